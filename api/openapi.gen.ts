// GENERATED from openapi.yaml by `npm run gen` — do not edit.
export type paths = {
    "/v1/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Daemon health, hypervisor in use and dependency status */
        get: operations["getHealth"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/hosts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The cluster's hosts, their capacity and usage (admins only)
         * @description Every daemon joined to the same database (FCM_DATABASE_URL) registers itself and renews
         *     a lease; a host whose lease lapsed is `unreachable`. A daemon on SQLite is a cluster of
         *     one: it lists itself. Usage counts what VMs on the host hold (memory and vCPUs of VMs
         *     with a hypervisor process; disk of every VM). (`fcm hosts` is something else: the servers
         *     this laptop is logged in to.)
         */
        get: operations["listHosts"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * List VMs
         * @description The answer carries an `ETag` that changes whenever the list could (a VM
         *     created, deleted, renamed, changed or changing state, a host becoming
         *     unreachable); send it back in `If-None-Match` and an unchanged list
         *     answers `304 Not Modified` without a body. Tags are per caller
         *     (`Cache-Control: private`). Clients that accept gzip (`Accept-Encoding`)
         *     get the list gzipped, with its own tag; either tag answers 304.
         */
        get: operations["listVms"];
        put?: never;
        /**
         * Create and boot a VM
         * @description Allocates an address, a copy-on-write disk and a tap device, then
         *     starts the hypervisor. Returns once the hypervisor process is
         *     running (state `starting`); the VM becomes `running` when the guest
         *     has booted — poll `GET /v1/vms/{name}/wait?state=running`.
         *     All-or-nothing: on any failure everything made so far is undone.
         */
        post: operations["createVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        /** Get a VM */
        get: operations["getVm"];
        put?: never;
        post?: never;
        /**
         * Delete a VM and everything it owns
         * @description Stops the hypervisor (forcefully) and removes its disk, tap and address. A VM whose
         *     host is `unreachable` (its lease lapsed) is deleted too: its row goes at once (name,
         *     address and quota are free) and its host removes the process, tap, disks and route
         *     when it returns.
         */
        delete: operations["deleteVm"];
        options?: never;
        head?: never;
        /**
         * Change a VM's size, custom domains or idle sleep
         * @description Changing `vcpus` or `memoryMib` of a running VM restarts it (graceful
         *     stop, then start) so the new size takes effect; a stopped VM keeps
         *     the new size for its next start. `domains` replaces the VM's list of
         *     custom domains (routes follow immediately, no restart). `sleepAfter`
         *     sets when an idle VM sleeps (`off`: never).
         */
        patch: operations["updateVm"];
        trace?: never;
    };
    "/v1/vms/{name}/domains": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        /**
         * The VM's custom domains, their status and the DNS record that verifies each
         * @description Custom domains are added with `domains` on create or update. Each stays
         *     `pending` (no route, no certificate) until its owner proves control:
         *     create the TXT record shown (`recordName` = `recordValue`), then verify.
         */
        get: operations["listDomains"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/domains/{domain}/verify": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
                /** @description One of the VM's custom domains */
                domain: components["schemas"]["Hostname"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Check the domain's TXT record now; on success the domain is routed
         * @description Looks up `_fcm-challenge.<domain>` through the daemon's resolvers. If
         *     it holds this VM owner's token for the domain, the domain becomes
         *     `verified` and is routed (with a certificate). `domain_not_verified`
         *     says what was found instead; `domain_taken` when another VM has it
         *     verified.
         */
        post: operations["verifyDomain"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/start": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Start a stopped VM, or wake a sleeping one
         * @description Starting a VM that is already running or starting succeeds and changes nothing.
         *     A `sleeping` VM is woken: restored from its saved memory, it resumes where it
         *     paused (processes, open files, the app's state); if its saved state cannot be
         *     restored it cold-boots from its disk instead and `lastError` says why.
         */
        post: operations["startVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/sleep": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Put a running VM to sleep (memory saved to disk, process ended)
         * @description Saves the VM's memory and device state to disk (the guest is paused, its
         *     disk writes flushed) and ends its hypervisor process, so the VM holds no
         *     host memory or CPU and does not count against host capacity. The state is
         *     `sleeping` from the moment the save begins; answers once the save is done.
         *     A sleeping VM wakes — restored where it paused, nothing lost — on the first
         *     HTTP request to its URL (the request is held until the app answers, then
         *     served), on `fcm start`, and when a console, `fcm logs` or a `git push`
         *     needs it. Sleeping a sleeping VM succeeds and changes nothing; other states
         *     than `running` are `invalid_state`; a hypervisor that cannot save machines
         *     answers `not_implemented`. Stopping a sleeping VM drops its saved memory.
         */
        post: operations["sleepVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/snapshots": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        /** The VM's snapshots, oldest first */
        get: operations["listSnapshots"];
        put?: never;
        /**
         * Take a point-in-time snapshot of a running VM (memory + disk)
         * @description Saves the running VM's memory and device state and a point-in-time copy
         *     of its disks, consistent with each other (what a restore brings back is
         *     the machine exactly as it was at one instant, unsynced writes included).
         *     The guest is paused (its disks drained and flushed) while the root disk
         *     gets a qcow2 internal snapshot (copy-on-write: it costs disk only for
         *     what changes afterwards), its swap a sparse copy, and its used memory
         *     is written out; then it runs on. `pausedMs` is that pause as QEMU
         *     measured it (about the time to write the guest's used RAM). The
         *     snapshot's memory state is a file beside the VM's disks; deleting the
         *     VM deletes its snapshots.
         *     The VM must be `running` (`invalid_state` otherwise); a name in use is
         *     `name_taken`; more than the daemon's snapshots per VM is
         *     `quota_exceeded` (limit `snapshotsPerVm`); a hypervisor that cannot
         *     take live snapshots answers `not_implemented`. A failed snapshot leaves
         *     nothing behind and the VM running.
         */
        post: operations["createSnapshot"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/snapshots/{snapshot}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
                /** @description The snapshot's name */
                snapshot: components["parameters"]["SnapshotName"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /**
         * Delete a snapshot
         * @description Deletes the snapshot's memory state and its disk snapshot; the VM is not touched. `snapshot_not_found` when there is none of that name.
         */
        delete: operations["deleteSnapshot"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/snapshots/{snapshot}/restore": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
                /** @description The snapshot's name */
                snapshot: components["parameters"]["SnapshotName"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Roll the VM back to a snapshot (memory + disk)
         * @description Ends the VM's current process (if any), rolls its disks back to the
         *     snapshot and restores its memory: the VM runs again exactly as it was
         *     when the snapshot was taken; everything since is gone (the snapshot
         *     itself stays, and can be restored again). Works on a running, stopped,
         *     failed or sleeping VM (a sleeping VM's saved memory is dropped). The VM
         *     is `starting` until its agent answers. A VM resized since the snapshot
         *     is `invalid_state`. If the restore fails the VM is `failed` with
         *     `lastError` saying why; `fcm start` boots it from its (rolled back) disk.
         */
        post: operations["restoreSnapshot"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/stop": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Stop a VM (graceful, then forced)
         * @description Asks the guest to shut down (Ctrl-Alt-Del) and waits up to `timeoutMs`;
         *     then kills the hypervisor. Stopping a stopped VM succeeds.
         */
        post: operations["stopVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/restart": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Stop then start a VM */
        post: operations["restartVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/wait": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        /**
         * Wait until a VM reaches a state
         * @description Long-polls until the VM is in `state` (200) or `timeout` seconds pass
         *     (408, code `wait_timeout`). If the VM ends up `failed` while waiting
         *     for another state, answers 409 with code `vm_failed`.
         */
        get: operations["waitVm"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/console": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        /**
         * Attach to the VM's serial console (WebSocket)
         * @description Upgrades to a WebSocket (RFC 6455). Binary frames carry terminal bytes in
         *     both directions; text frames carry JSON control messages:
         *     client → server `{"type":"resize","cols":120,"rows":40}` (cols 2-1000, rows 1-1000);
         *     server → client `{"type":"hello","vm":"...","replayBytes":N}` first (then the
         *     replay as binary frames), `{"type":"error","message":"..."}` for a bad control
         *     message (the session stays open), and `{"type":"exit","reason":"..."}` then
         *     close 1000 when the VM stops, fails or is deleted. Other close codes: 1001 the
         *     daemon is restarting (reconnect), 4008 the client read too slowly, 1009 a frame
         *     over 1 MiB, 1008 the token (or user) that opened it was revoked — an `error`
         *     message says so first; reconnecting with it is refused.
         *     On connect the server replays recent output (bounded scrollback), then
         *     streams live. The shell belongs to the VM: it keeps running when every
         *     client is gone and when the daemon restarts; several clients may attach.
         *     Auth: bearer header (CLI), or `?ticket=` from createConsoleTicket (browsers
         *     cannot set headers on WebSockets).
         */
        get: operations["openConsole"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/run": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        /**
         * Run a one-off command in the VM (WebSocket)
         * @description Upgrades to a WebSocket (RFC 6455) running one command (`fcm run`): `argv`
         *     (repeat the parameter per item; no shell: ask for `sh -c '...'` yourself) as the
         *     app user, in the live release's directory with the app's environment (config
         *     vars, `PORT`, the buildpack's runtime, `DYNO=run.1`). A sleeping VM is woken
         *     first, a starting one awaited. Everything is checked before the upgrade: a
         *     refusal is a problem+json answer — `validation_failed` (no argv, an empty
         *     program, more than 8 KiB of argv), `vm_not_found`, `invalid_state` (the VM is
         *     stopped or failed), `too_many_runs` (4 already run in that VM),
         *     `guest_unreachable`.
         *
         *     Server → client: binary frames whose first byte says the stream (`1` stdout,
         *     `2` stderr) followed by the bytes; then one text frame
         *     `{"type":"exit","code":7,"signal":null,"timedOut":false}` (`code` null when a
         *     signal ended it, `timedOut` when `timeout` passed) and close 1000. If the guest
         *     agent breaks off: `{"type":"error","message":"..."}` and close 1011.
         *     Client → server: binary frames are stdin; text frames are
         *     `{"type":"eof"}` (end of stdin) and `{"type":"signal","signal":"INT"}` (HUP, INT,
         *     QUIT, TERM, KILL, USR1, USR2, to the command's process group). Closing the
         *     WebSocket kills the command (SIGHUP, then SIGKILL). Non-interactive: no
         *     terminal (use `fcm console` for one). Auth: bearer header.
         */
        get: operations["runCommand"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/console/tickets": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Get a short-lived single-use ticket for the web console */
        post: operations["createConsoleTicket"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/releases": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        /** List the VM's releases, newest first */
        get: operations["listReleases"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/releases/{version}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
                version: number;
            };
            cookie?: never;
        };
        /** One release, with its build log */
        get: operations["getRelease"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/rollback": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Go back to an earlier release
         * @description Starts the given release's code again (default: the release before the
         *     current one) as a new release, with zero downtime like a deploy.
         */
        post: operations["rollbackVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/env": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        /** The app's config vars */
        get: operations["getEnv"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /**
         * Set or unset config vars (restarts the app)
         * @description Applies `set` then `unset`, records a release, and restarts the app's
         *     processes so they see the new environment (zero downtime for `web`).
         *     Values are never logged.
         */
        patch: operations["updateEnv"];
        trace?: never;
    };
    "/v1/vms/{name}/logs": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        /**
         * The app's output (stdout and stderr of its processes)
         * @description Plain text, one line per output line, prefixed `<time> <process>[<n>]: `. With `follow=true` the response streams until the client disconnects.
         */
        get: operations["getLogs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/keys": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your SSH public keys (for git push over SSH) */
        get: operations["listKeys"];
        put?: never;
        /**
         * Register an SSH public key (with proof that you hold its private key)
         * @description Send the public key, a challenge from POST /v1/keys/challenges (issued to
         *     you for this key, unused, at most 5 minutes old) and an SSH signature of
         *     that challenge made with the key in the `fcm-key-proof` namespace:
         *
         *         printf %s "$CHALLENGE" | ssh-keygen -Y sign -n fcm-key-proof -f ~/.ssh/id_ed25519
         *
         *     (`-f` may name the public key when ssh-agent holds the private one.)
         *     `key_proof_failed` when the proof does not hold; `key_taken` when the
         *     key (by fingerprint) is registered already, to any account.
         */
        post: operations["addKey"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/keys/challenges": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * A one-time challenge to sign with the key you are adding
         * @description Step one of adding a key: the challenge is bound to you and to this key
         *     (by fingerprint), works once, and for 5 minutes. Sign exactly its text
         *     (`challenge`) in the `namespace` given. A key registered already (by
         *     anyone) gets `key_taken` here.
         */
        post: operations["createKeyChallenge"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/keys/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Remove an SSH key */
        delete: operations["removeKey"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/auth/config": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** How to log in to this daemon */
        get: operations["getAuthConfig"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/auth/login": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Start a browser login (OpenID Connect, authorization code + PKCE)
         * @description The CLI listens on a loopback port and sends its redirect URI and a PKCE
         *     challenge. The daemon answers with the identity provider's authorization
         *     URL (the daemon runs its own PKCE, state and nonce with the provider).
         *     After the provider redirects back to the daemon, the daemon verifies the
         *     ID token and redirects the browser to the CLI's loopback URI with a
         *     one-time code — never a token. The CLI redeems the code with its PKCE
         *     verifier at POST /v1/auth/token.
         */
        post: operations["startLogin"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/auth/callback": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Where the identity provider sends the browser back (not called directly)
         * @description Identity providers add response parameters of their own (Google: `scope`,
         *     `authuser`, `prompt`, `hd`); as OAuth 2.0 §4.1.2 asks, unknown ones are
         *     ignored (`x-extra-query`). `iss` (RFC 9207), when sent, must be the issuer.
         */
        get: operations["authCallback"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/auth/token": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Redeem a one-time login code for an fcm token */
        post: operations["exchangeLoginCode"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/auth/device": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Start a device login (for machines without a browser) */
        post: operations["startDeviceLogin"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/auth/device/token": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Poll a device login; `authorization_pending` until the user approves */
        post: operations["pollDeviceLogin"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/auth/whoami": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Who the token belongs to */
        get: operations["whoami"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/auth/logout": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Revoke the token used for this request */
        post: operations["logout"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/auth/session": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The browser session (dashboard) — who it is, and the CSRF token its changes need
         * @description With the session cookie, `csrfToken` is the value every state-changing
         *     request of this session must send as `X-FCM-CSRF`; with a bearer token
         *     (no cookie involved) it is null.
         */
        get: operations["getSession"];
        put?: never;
        /**
         * Start a browser session from a pasted token (the dashboard's sign-in without OIDC)
         * @description A user token buys a session token of its own (listed by `fcm tokens`,
         *     expiring no later than the pasted one, revoked when the session ends);
         *     the admin token is kept as it is. The answer sets the session cookie
         *     (HttpOnly, SameSite=Strict, `__Host-` and Secure over HTTPS) and never
         *     contains the token. Refused from cross-site requests.
         */
        post: operations["createSession"];
        /** Sign out of the browser session — its token is revoked (not the admin token) and the cookie cleared */
        delete: operations["deleteSession"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/auth/session/login": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Start a browser login for the dashboard (OpenID Connect through the daemon)
         * @description Like startLogin, but the browser itself is the client: the answer sets
         *     a short-lived HttpOnly cookie binding this login to this browser and
         *     gives the identity provider's URL. After the provider sends the browser
         *     back to /v1/auth/callback, the daemon checks that cookie (a callback
         *     link opened in another browser logs nobody in), sets the session cookie
         *     and redirects to `/dashboard/`. Refusals go to `/dashboard/#error=<code>`.
         */
        post: operations["startSessionLogin"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/users/{user}/quota": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A user id (usr_…), an email address, `admin` (the admin token), or `me` */
                user: string;
            };
            cookie?: never;
        };
        /**
         * A user's quota limits and usage
         * @description Limits (null: unlimited — admins are), what the user holds now, and
         *     the overrides an admin set (the rest are the daemon's defaults,
         *     FCM_QUOTA_*). Users read their own (`me`); admins anyone's.
         */
        get: operations["getQuota"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /**
         * Override a user's limits (admins only)
         * @description Sets the given limits for this user; `reset` removes overrides (back
         *     to the daemon's default). Lowering a limit below what the user holds
         *     takes nothing away; it only refuses growth until usage is below it.
         */
        patch: operations["updateQuota"];
        trace?: never;
    };
    "/v1/tokens": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your fcm tokens (never their values) */
        get: operations["listTokens"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/tokens/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Revoke one of your tokens */
        delete: operations["revokeToken"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/backup": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        /**
         * Export a VM as a portable, checksummed backup archive (streamed)
         * @description Streams an `application/x-fcm-backup` archive (POSIX tar): `manifest.json`
         *     first (format `fcm-backup`, `version` 2, the VM's settings, and for every
         *     member its size and SHA-256), then `disk.qcow2` (the root disk, standalone:
         *     no backing file, compressed), with `withMemory` `memory.bin` (the machine's
         *     memory + device state, saved at the instant the disk was flushed; the
         *     manifest's `memory` names the hypervisor, size and image build it belongs
         *     to), `config.json` (the config vars: secrets — keep the file like a
         *     password), `releases.json` (release history), and last `manifest.sha256`
         *     (the manifest's own SHA-256). A running VM is put to sleep first (its disk
         *     consistent; the next request wakes it); a stopped or sleeping VM is
         *     exported as it is (`withMemory` needs a running or sleeping VM:
         *     `invalid_state` otherwise). The archive restores with importBackup on this
         *     host or another; archives of version 1 (before memory) still import.
         */
        get: operations["exportBackup"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/backups": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Create a VM from a backup archive (streamed in)
         * @description The body is an archive from exportBackup, streamed. Every member is checked
         *     against the manifest (size, SHA-256, order; the manifest against
         *     `manifest.sha256`), and the disk (qcow2, no backing or data file, no larger
         *     than the VM's disk) before anything is made: a truncated or corrupt archive
         *     is refused with `backup_invalid`, one over the size bound
         *     (`FCM_BACKUP_MAX_MIB`) with `payload_too_large`, and leaves nothing behind
         *     (no VM, disk, tap, route or repository). The new VM is yours, named `name`
         *     (default: the name in the archive), sized as the archive says (quotas and
         *     host capacity apply as for a create), gets its own identity (id, address,
         *     MAC, URL) and boots from the imported disk with the archive's config vars
         *     and release history; the app deployed at export serves again. An archive
         *     with `memory.bin` whose machine matches this host (hypervisor, vCPUs, MiB,
         *     image build; saved with the identity watch armed; no swap disk, whose
         *     pages the archive does not carry) is resumed instead: the app's processes
         *     go on where they were, and the guest takes the new VM's identity from its
         *     own seed (address, MAC, hostname, machine-id, agent token, entropy — as a
         *     fork does); the answer comes once it answers as the new VM, `lastError`
         *     null. Otherwise, or when the resume fails, the VM boots from the imported
         *     disk and its `lastError` says why its memory was not resumed.
         */
        post: operations["importBackup"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/vms/{name}/fork": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Fork a running VM into a new VM (live memory + disk, its own identity)
         * @description A new VM named `name` from the running VM's live state: its memory,
         *     processes and disks of one instant, captured as a snapshot is (the parent is
         *     paused while its root disk gets a copy-on-write snapshot, its swap a copy and
         *     its used memory is written; then it runs on — the `Fcm-Parent-Paused-Ms`
         *     header says how long). The fork is restored from that capture and takes an
         *     identity of its own exactly as a warm-pool clone does: id, address, MAC, host
         *     name, machine-id, fresh entropy for its kernel's random generator, its own URL
         *     and route, its own agent token. It gets its own copy of the app: config vars,
         *     releases (same versions) and git repository (so `git push <its remote>
         *     feature:main` deploys onto the fork only), the parent's size and idle sleep,
         *     and no custom domains. Its root disk is standalone (a copy of what the
         *     parent's disk held over the same read-only base image): deleting the parent
         *     leaves the fork running and restartable. Processes in the fork continue
         *     where the parent's were, so a user-space random generator seeded before the
         *     fork (e.g. Python's `random`) continues identically in both; the kernel's
         *     (`os.urandom`, `secrets`, /dev/urandom) differs.
         *     The parent must be `running` (`invalid_state` otherwise; so is a VM whose
         *     image predates forks); `name` in use is `name_taken`; quotas and host
         *     capacity apply as for a create (`quota_exceeded`, `insufficient_capacity`);
         *     a hypervisor that cannot take live snapshots answers `not_implemented`. A
         *     failed fork leaves nothing behind (no VM, disk, tap, route, repository) and
         *     the parent running. Answers once the fork's hypervisor runs (state
         *     `starting`); it is `running` when its guest answers as itself.
         */
        post: operations["forkVm"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
};
export type webhooks = Record<string, never>;
export type components = {
    schemas: {
        /**
         * @description DNS label, lower-case letters, digits and single hyphens, starting with a letter.
         * @example cosmic-nova
         */
        VmName: string;
        /**
         * @description `creating` — resources being allocated; `starting` — hypervisor running, guest booting
         *     (or waking); `running` — the guest agent answered; `sleeping` — memory saved to disk, no
         *     process (the next request to its URL, or a start, wakes it); `stopping`; `stopped`;
         *     `failed` — the guest did not boot or the hypervisor died (see `lastError`); `deleting`.
         * @enum {string}
         */
        VmState: "creating" | "starting" | "running" | "sleeping" | "stopping" | "stopped" | "failed" | "deleting";
        /**
         * @example {
         *       "name": "cosmic-nova",
         *       "vcpus": 1,
         *       "memoryMib": 1024,
         *       "diskMib": 2048,
         *       "domains": [
         *         "www.example.com"
         *       ],
         *       "sleepAfter": "15m"
         *     }
         */
        CreateVmRequest: {
            name?: components["schemas"]["VmName"];
            /**
             * @description Virtual CPUs
             * @default 1
             */
            vcpus: number;
            /**
             * @description Guest RAM in MiB
             * @default 1024
             */
            memoryMib: number;
            /**
             * @description Root disk size in MiB (sparse; only written blocks use host disk)
             * @default 2048
             */
            diskMib: number;
            /**
             * @description Swap disk size in MiB (0 for none)
             * @default 512
             */
            swapMib: number;
            /**
             * @description The guest port that receives the VM's HTTP traffic
             * @default 8000
             */
            port: number;
            /**
             * @description Base image name
             * @default base
             */
            image: string;
            domains?: components["schemas"]["DomainList"];
            sleepAfter?: components["schemas"]["SleepAfter"];
            /** @description Pin the VM to this host of the cluster (an id from fcm cluster hosts). Without it the cluster places it: the up host with room for it (memory, vCPUs, disk, an IP) that has the most memory left. */
            host?: string;
        };
        /**
         * @example {
         *       "memoryMib": 2048,
         *       "sleepAfter": "off"
         *     }
         */
        UpdateVmRequest: {
            vcpus?: number;
            memoryMib?: number;
            domains?: components["schemas"]["DomainList"];
            sleepAfter?: components["schemas"]["SleepAfter"];
        };
        /**
         * @description Put the VM to sleep (see sleepVm) once it has been idle this long — no
         *     request through its URL or custom domains, no console attached, no deploy
         *     running: a number with `s`, `m` or `h` (`15m`, `2h`), at least 10 s; `off`
         *     (the default) never. The next request wakes it.
         * @example 15m
         * @example off
         */
        SleepAfter: string;
        /**
         * @description A fully qualified DNS name (lower case, no wildcard, no trailing dot, not an IP address).
         * @example www.example.com
         */
        Hostname: string;
        /**
         * @example {
         *       "domain": "www.example.com",
         *       "status": "pending",
         *       "recordType": "TXT",
         *       "recordName": "_fcm-challenge.www.example.com",
         *       "recordValue": "fcm-verify=2Jq0x9cV4mYtR7aK1sLbN8eW"
         *     }
         */
        CustomDomain: {
            domain: string;
            /**
             * @description `pending`: no route and no certificate until verified
             * @enum {string}
             */
            status: "pending" | "verified";
            /** @enum {string} */
            recordType: "TXT";
            /** @description Where the record goes: _fcm-challenge.<domain> */
            recordName: string;
            /** @description The token: fixed for this user and domain */
            recordValue: string;
        };
        /**
         * @example {
         *       "domains": [
         *         {
         *           "domain": "www.example.com",
         *           "status": "pending",
         *           "recordType": "TXT",
         *           "recordName": "_fcm-challenge.www.example.com",
         *           "recordValue": "fcm-verify=2Jq0x9cV4mYtR7aK1sLbN8eW"
         *         }
         *       ]
         *     }
         */
        CustomDomainList: {
            domains: components["schemas"]["CustomDomain"][];
        };
        /**
         * @description Extra custom domains for the VM (besides its own URL). New ones are pending until
         *     verified with a DNS TXT record (listDomains shows it); point their DNS at the server.
         *     The server's own host name and the VM base domain cannot be claimed.
         */
        DomainList: components["schemas"]["Hostname"][];
        /**
         * @example {
         *       "timeoutMs": 10000,
         *       "force": false
         *     }
         */
        StopVmRequest: {
            /**
             * @description How long to wait for a graceful shutdown before killing the VM
             * @default 10000
             */
            timeoutMs: number;
            /**
             * @description Skip the graceful shutdown
             * @default false
             */
            force: boolean;
        };
        /**
         * @example {
         *       "id": "vm_3f9c2a7e1b4d",
         *       "name": "cosmic-nova",
         *       "state": "running",
         *       "vcpus": 1,
         *       "memoryMib": 1024,
         *       "diskMib": 2048,
         *       "swapMib": 512,
         *       "port": 8000,
         *       "image": "base",
         *       "ip": "10.77.0.12",
         *       "mac": "02:fc:00:4d:00:0c",
         *       "url": "https://cosmic-nova.apps.example.com",
         *       "domains": [
         *         "www.example.com"
         *       ],
         *       "pendingDomains": [],
         *       "gitUrl": "root@apps.example.com:cosmic-nova.git",
         *       "gitHttpUrl": "https://apps.example.com/git/cosmic-nova.git",
         *       "hypervisor": "firecracker",
         *       "sleepAfter": "off",
         *       "host": "fcm-a",
         *       "stateReason": null,
         *       "lastError": null,
         *       "createdAt": "2026-12-06T12:00:00Z",
         *       "updatedAt": "2026-12-06T12:00:07Z"
         *     }
         */
        Vm: {
            /** @example vm_3f9c2a7e1b4d */
            id: string;
            name: components["schemas"]["VmName"];
            /**
             * @description The VM's state, or `unreachable` when the host it runs on has let its lease lapse
             *     (crashed, cut off from the database, or stopped): the VM is neither moved, restarted
             *     nor deleted meanwhile; `stateReason` says since when. Once the host is back it reports
             *     the VM's real state again.
             */
            state: components["schemas"]["VmState"] | "unreachable";
            /** @description Why the state is `unreachable` (which host, since when); null otherwise */
            stateReason?: string | null;
            /** @description The id of the host whose hypervisor runs the VM (FCM_HOST_ID; see listHosts) */
            host: string;
            vcpus: number;
            memoryMib: number;
            diskMib: number;
            swapMib: number;
            port: number;
            image: string;
            /** Format: ipv4 */
            ip: string;
            mac: string;
            /**
             * Format: uri
             * @description The VM's public HTTPS URL
             */
            url: string;
            /** @description Custom domains claimed for the VM (routed once verified) */
            domains: string[];
            /** @description The custom domains not verified yet (no route, no certificate); see listDomains */
            pendingDomains: string[];
            /** @enum {string} */
            hypervisor: "qemu" | "firecracker";
            /** @description SSH git remote: root@<server>:<name>.git */
            gitUrl: string;
            /** @description HTTPS git remote (token auth) */
            gitHttpUrl: string;
            /** @description Idle time after which it sleeps (`15m`), or `off` */
            sleepAfter: string;
            /** @description Why the VM is `failed`, if it is; after a wake that had to cold-boot, why its saved state could not be restored */
            lastError?: string | null;
            /** Format: date-time */
            createdAt: string;
            /** Format: date-time */
            updatedAt: string;
        };
        /**
         * @example {
         *       "name": "cosmic-nova-pr-12"
         *     }
         */
        ForkVmRequest: {
            name: components["schemas"]["VmName"];
        };
        Host: {
            /**
             * @description FCM_HOST_ID
             * @example fcm-a
             */
            id: string;
            /**
             * @description `up` while its lease runs; `unreachable` once it lapsed (its VMs are left as they are)
             * @enum {string}
             */
            state: "up" | "unreachable";
            /**
             * Format: ipv4
             * @description The address its VMs' URLs embed
             */
            publicIp: string;
            /** @description Its API */
            apiUrl: string;
            /** @description Its VM subnet (FCM_SUBNET), e.g. 172.16.0.0/24 */
            subnet: string;
            /** @description vCPUs it may commit (host CPUs × FCM_CPU_OVERCOMMIT) */
            vcpus: number;
            /** @description Guest memory it may commit, MiB (admission's capacity) */
            memoryMib: number;
            /** @description Disk in its state directory, MiB */
            diskMib: number;
            /** @description VMs on it */
            vms: number;
            usedVcpus: number;
            usedMemoryMib: number;
            /** @description Sum of its VMs' disk sizes (sparse; an upper bound) */
            usedDiskMib: number;
            /**
             * Format: date-time
             * @description When its daemon registered
             */
            startedAt: string;
            /**
             * Format: date-time
             * @description Its last lease renewal
             */
            renewedAt: string;
            /** Format: date-time */
            leaseExpiresAt: string;
        };
        /**
         * @example {
         *       "hosts": [
         *         {
         *           "id": "fcm-a",
         *           "state": "up",
         *           "publicIp": "64.34.93.45",
         *           "apiUrl": "http://10.0.0.5:7777",
         *           "subnet": "172.16.0.0/24",
         *           "vcpus": 16,
         *           "memoryMib": 23552,
         *           "diskMib": 409600,
         *           "vms": 3,
         *           "usedVcpus": 3,
         *           "usedMemoryMib": 3072,
         *           "usedDiskMib": 6144,
         *           "startedAt": "2026-12-06T11:00:00Z",
         *           "renewedAt": "2026-12-06T12:00:05Z",
         *           "leaseExpiresAt": "2026-12-06T12:00:20Z"
         *         }
         *       ]
         *     }
         */
        HostList: {
            hosts: components["schemas"]["Host"][];
        };
        /**
         * @example {
         *       "vms": [
         *         {
         *           "id": "vm_3f9c2a7e1b4d",
         *           "name": "cosmic-nova",
         *           "state": "running",
         *           "vcpus": 1,
         *           "memoryMib": 1024,
         *           "diskMib": 2048,
         *           "swapMib": 512,
         *           "port": 8000,
         *           "image": "base",
         *           "ip": "10.77.0.12",
         *           "mac": "02:fc:00:4d:00:0c",
         *           "url": "https://cosmic-nova.apps.example.com",
         *           "domains": [
         *             "www.example.com"
         *           ],
         *           "pendingDomains": [],
         *           "gitUrl": "root@apps.example.com:cosmic-nova.git",
         *           "gitHttpUrl": "https://apps.example.com/git/cosmic-nova.git",
         *           "hypervisor": "firecracker",
         *           "sleepAfter": "off",
         *           "host": "fcm-a",
         *           "stateReason": null,
         *           "lastError": null,
         *           "createdAt": "2026-12-06T12:00:00Z",
         *           "updatedAt": "2026-12-06T12:00:07Z"
         *         }
         *       ]
         *     }
         */
        VmList: {
            vms: components["schemas"]["Vm"][];
        };
        /**
         * @example {
         *       "status": "ok",
         *       "version": "0.1.0",
         *       "hypervisor": "firecracker",
         *       "accel": "kvm",
         *       "confinement": {
         *         "user": "per-vm",
         *         "seccomp": true,
         *         "mountNamespace": true,
         *         "jailer": true,
         *         "cgroups": {
         *           "version": "v2",
         *           "limits": [
         *             "cpu",
         *             "memory",
         *             "pids"
         *           ],
         *           "detail": null
         *         }
         *       },
         *       "vms": {
         *         "total": 3,
         *         "running": 2,
         *         "sleeping": 1
         *       },
         *       "checks": {
         *         "caddy": {
         *           "ok": true
         *         },
         *         "disk": {
         *           "ok": true,
         *           "detail": "41.2 GiB free of 100 GiB"
         *         }
         *       }
         *     }
         */
        Health: {
            /** @enum {string} */
            status: "ok" | "degraded";
            version: string;
            /** @enum {string} */
            hypervisor: "qemu" | "firecracker";
            /**
             * @description How guests are executed
             * @enum {string}
             */
            accel: "kvm" | "tcg";
            /**
             * @description What confines the hypervisor processes, so that an escape from a
             *     guest's device model is not the host (see SECURITY.md).
             */
            confinement?: {
                /**
                 * @description per-vm: every VM's hypervisor runs as a uid of its own; shared: one unprivileged uid for all; root: not confined
                 * @enum {string}
                 */
                user: "per-vm" | "shared" | "root";
                /** @description A seccomp filter (QEMU -sandbox, or Firecracker's own) limits the system calls */
                seccomp: boolean;
                /** @description The hypervisor sees only its own files (private mount namespace / chroot) */
                mountNamespace: boolean;
                /** @description Firecracker runs through its jailer */
                jailer: boolean;
                cgroups: {
                    /**
                     * @description The cgroup hierarchy used for per-VM limits (null = none)
                     * @enum {string|null}
                     */
                    version: "v1" | "v2" | null;
                    /** @description Limits applied to every VM: cpu = its vCPUs' time, memory = RAM + a bounded overhead, pids */
                    limits: ("cpu" | "memory" | "pids")[];
                    /** @description Why a limit is not applied, if one is not */
                    detail: string | null;
                };
            };
            vms: {
                total: number;
                running: number;
                sleeping: number;
            };
            /** @description Dependency name → status */
            checks?: {
                [key: string]: {
                    ok: boolean;
                    detail?: string;
                };
            };
        };
        /**
         * @example {
         *       "ticket": "fct_Qm9yZ2V0LW1lLW5vdC0xMjM0NTY3ODkw",
         *       "expiresAt": "2026-12-06T12:01:00Z",
         *       "webUrl": "/console/cosmic-nova#ticket=fct_Qm9yZ2V0LW1lLW5vdC0xMjM0NTY3ODkw"
         *     }
         */
        ConsoleTicket: {
            ticket: string;
            /** Format: date-time */
            expiresAt: string;
            /** @description The web console page for this ticket (path on the daemon) */
            webUrl: string;
        };
        /**
         * @example {
         *       "version": 3,
         *       "status": "succeeded",
         *       "kind": "deploy",
         *       "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
         *       "description": "Deploy 9fceb02",
         *       "buildpack": "python",
         *       "processes": {
         *         "web": "gunicorn app:app",
         *         "worker": "python3 worker.py"
         *       },
         *       "rollbackOf": null,
         *       "createdAt": "2026-12-06T12:00:00Z",
         *       "finishedAt": "2026-12-06T12:00:21Z",
         *       "log": "-----> Detected Python (requirements.txt)\n-----> Using the cached virtualenv (requirements.txt unchanged)\n-----> Procfile declares types -> web, worker\n"
         *     }
         */
        Release: {
            /** @description 1, 2, 3… per VM */
            version: number;
            /** @enum {string} */
            status: "pending" | "building" | "succeeded" | "failed" | "superseded";
            /** @enum {string} */
            kind: "deploy" | "rollback" | "config";
            /** @description Git commit SHA */
            commit?: string | null;
            description: string;
            /** @enum {string|null} */
            buildpack?: "python" | "ruby" | "node" | "static" | "none" | null;
            /** @description Procfile process type → command */
            processes?: {
                [key: string]: string;
            };
            rollbackOf?: number | null;
            /** @description Build output (getRelease only) */
            log?: string;
            /** Format: date-time */
            createdAt: string;
            /** Format: date-time */
            finishedAt?: string | null;
        };
        /**
         * @description Lower-case letters, digits and hyphens, starting with a letter or digit (unique per VM).
         * @example before-migration
         */
        SnapshotName: string;
        /**
         * @example {
         *       "snapshot": "before-migration",
         *       "vm": "cosmic-nova",
         *       "createdAt": "2026-12-06T12:00:00Z",
         *       "pausedMs": 412.5,
         *       "stateBytes": 187695104,
         *       "sizeBytes": 188743680
         *     }
         */
        Snapshot: {
            snapshot: components["schemas"]["SnapshotName"];
            vm: components["schemas"]["VmName"];
            /** Format: date-time */
            createdAt: string;
            /** @description How long the guest was paused while the snapshot was taken (milliseconds, as QEMU measured it) */
            pausedMs: number;
            /** @description Bytes of the saved memory and device state */
            stateBytes: number;
            /** @description Disk the snapshot takes besides the VM's own disk (memory state and swap copy; the disk snapshot shares unchanged blocks with the VM) */
            sizeBytes: number;
        };
        /**
         * @example {
         *       "snapshots": [
         *         {
         *           "snapshot": "before-migration",
         *           "vm": "cosmic-nova",
         *           "createdAt": "2026-12-06T12:00:00Z",
         *           "pausedMs": 412.5,
         *           "stateBytes": 187695104,
         *           "sizeBytes": 188743680
         *         }
         *       ]
         *     }
         */
        SnapshotList: {
            snapshots: components["schemas"]["Snapshot"][];
        };
        /**
         * @example {
         *       "releases": [
         *         {
         *           "version": 3,
         *           "status": "succeeded",
         *           "kind": "deploy",
         *           "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
         *           "description": "Deploy 9fceb02",
         *           "buildpack": "python",
         *           "processes": {
         *             "web": "gunicorn app:app",
         *             "worker": "python3 worker.py"
         *           },
         *           "rollbackOf": null,
         *           "createdAt": "2026-12-06T12:00:00Z",
         *           "finishedAt": "2026-12-06T12:00:21Z"
         *         }
         *       ]
         *     }
         */
        ReleaseList: {
            releases: components["schemas"]["Release"][];
        };
        EnvKey: string;
        /**
         * @example {
         *       "vars": {
         *         "DATABASE_URL": "postgres://app@db.internal/app",
         *         "GREETING": "hello"
         *       },
         *       "release": 4
         *     }
         */
        EnvVars: {
            vars: {
                [key: string]: string;
            };
            /** @description Release recorded for this change */
            release?: number | null;
        };
        /**
         * @example {
         *       "set": {
         *         "GREETING": "hello"
         *       },
         *       "unset": [
         *         "OLD_FLAG"
         *       ]
         *     }
         */
        EnvUpdate: {
            set?: {
                [key: string]: string;
            };
            unset?: components["schemas"]["EnvKey"][];
        };
        /**
         * @example {
         *       "id": "key_1c9e4b7a20d3",
         *       "name": "laptop",
         *       "type": "ssh-ed25519",
         *       "fingerprint": "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
         *       "createdAt": "2026-12-06T12:00:00Z"
         *     }
         */
        SshKey: {
            id: string;
            name: string;
            /** @example ssh-ed25519 */
            type: string;
            /** @example SHA256:… */
            fingerprint: string;
            /** Format: date-time */
            createdAt: string;
        };
        /**
         * @example {
         *       "keys": [
         *         {
         *           "id": "key_1c9e4b7a20d3",
         *           "name": "laptop",
         *           "type": "ssh-ed25519",
         *           "fingerprint": "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
         *           "createdAt": "2026-12-06T12:00:00Z"
         *         }
         *       ]
         *     }
         */
        SshKeyList: {
            keys: components["schemas"]["SshKey"][];
        };
        /**
         * @example {
         *       "publicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHzRzH1KAjXeOy+OYJ98qhEOrJwV6QaeaukUQq+FLyIX alice@laptop",
         *       "name": "laptop",
         *       "challenge": "fcm-key-proof:q0yBvW8cTjA1pX6sQk2rN5uHd3fLm9ZgE7aYwVtCiJo",
         *       "signature": "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgfNHMfUoCNd47L45gn3yqEQ6snB\nXpBp5rqRRCr4UvIhcAAAANZmNtLWtleS1wcm9vZgAAAAAAAAAGc2hhNTEyAAAAUwAAAAtz\nc2gtZWQyNTUxOQAAAEDNzytrbTf1cYsIPfzJarKCPgRpO+AiYX/mwcUKPtvAleLwxpSS82\nybB5NtLXfafvBZntE/vYl4v0EUEwnFUnEN\n-----END SSH SIGNATURE-----\n"
         *     }
         */
        AddKeyRequest: {
            /** @description An OpenSSH public key line (`ssh-ed25519 AAAA… comment`) */
            publicKey: string;
            name?: string;
            /**
             * @description The `challenge` from POST /v1/keys/challenges
             * @example fcm-key-proof:q0yBvW8cTjA1pX6sQk2rN5uHd3fLm9ZgE7aYwVtCiJo
             */
            challenge: string;
            /**
             * @description `ssh-keygen -Y sign -n fcm-key-proof` of the challenge with this key (armored)
             * @example -----BEGIN SSH SIGNATURE-----
             *     U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgfNHMfUoCNd47L45gn3yqEQ6snB
             *     XpBp5rqRRCr4UvIhcAAAANZmNtLWtleS1wcm9vZgAAAAAAAAAGc2hhNTEyAAAAUwAAAAtz
             *     c2gtZWQyNTUxOQAAAEDNzytrbTf1cYsIPfzJarKCPgRpO+AiYX/mwcUKPtvAleLwxpSS82
             *     ybB5NtLXfafvBZntE/vYl4v0EUEwnFUnEN
             *     -----END SSH SIGNATURE-----
             */
            signature: string;
        };
        /**
         * @example {
         *       "challenge": "fcm-key-proof:q0yBvW8cTjA1pX6sQk2rN5uHd3fLm9ZgE7aYwVtCiJo",
         *       "namespace": "fcm-key-proof",
         *       "fingerprint": "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
         *       "expiresAt": "2026-12-06T12:05:00Z"
         *     }
         */
        KeyChallenge: {
            /** @description The exact text to sign */
            challenge: string;
            /**
             * @description ssh-keygen -Y sign -n <namespace>
             * @enum {string}
             */
            namespace: "fcm-key-proof";
            /** @description The key the challenge is for */
            fingerprint: string;
            /** Format: date-time */
            expiresAt: string;
        };
        /**
         * @example {
         *       "enabled": true,
         *       "issuer": "https://accounts.example.com",
         *       "browser": true,
         *       "device": true
         *     }
         */
        AuthConfig: {
            /** @description false: only the admin token works */
            enabled: boolean;
            issuer?: string | null;
            browser: boolean;
            device: boolean;
        };
        /**
         * @example {
         *       "redirectUri": "http://127.0.0.1:49152/callback",
         *       "state": "b3BhcXVlLXN0YXRlLTEyMzQ",
         *       "codeChallenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
         *       "codeChallengeMethod": "S256"
         *     }
         */
        StartLoginRequest: {
            /** @description The CLI's loopback listener */
            redirectUri: string;
            state: string;
            codeChallenge: string;
            /**
             * @default S256
             * @enum {string}
             */
            codeChallengeMethod: "S256";
        };
        /**
         * @example {
         *       "authorizeUrl": "https://accounts.example.com/authorize?client_id=fcm&response_type=code&state=b3BhcXVlLXN0YXRlLTEyMzQ",
         *       "expiresAt": "2026-12-06T12:10:00Z"
         *     }
         */
        LoginStarted: {
            authorizeUrl: string;
            /** Format: date-time */
            expiresAt: string;
        };
        /**
         * @example {
         *       "code": "lc_4e1f0b9a7d2c8e6f",
         *       "codeVerifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
         *     }
         */
        ExchangeCodeRequest: {
            code: string;
            codeVerifier: string;
        };
        /**
         * @example {
         *       "deviceCode": "dc_GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS",
         *       "userCode": "WDJB-MJHT",
         *       "verificationUri": "https://accounts.example.com/device",
         *       "verificationUriComplete": "https://accounts.example.com/device?user_code=WDJB-MJHT",
         *       "interval": 5,
         *       "expiresIn": 600
         *     }
         */
        DeviceLogin: {
            deviceCode: string;
            userCode: string;
            verificationUri: string;
            verificationUriComplete?: string | null;
            /** @description Seconds between polls */
            interval: number;
            expiresIn: number;
        };
        /**
         * @example {
         *       "id": "usr_8d41c07a2e95",
         *       "email": "alice@example.com",
         *       "name": "Alice",
         *       "admin": false
         *     }
         */
        User: {
            id: string;
            email: string | null;
            name: string | null;
            admin: boolean;
        };
        /**
         * @example {
         *       "id": "tok_5b2e9f30c1a7",
         *       "kind": "user",
         *       "description": "fcm login on laptop",
         *       "createdAt": "2026-12-06T12:00:00Z",
         *       "expiresAt": "2027-01-05T12:00:00Z",
         *       "lastUsedAt": "2026-12-06T12:30:00Z"
         *     }
         */
        TokenInfo: {
            id: string;
            /** @enum {string} */
            kind: "admin" | "user";
            description?: string | null;
            /** Format: date-time */
            createdAt: string;
            /** Format: date-time */
            expiresAt?: string | null;
            /** Format: date-time */
            lastUsedAt?: string | null;
        };
        /**
         * @example {
         *       "tokens": [
         *         {
         *           "id": "tok_5b2e9f30c1a7",
         *           "kind": "user",
         *           "description": "fcm login on laptop",
         *           "createdAt": "2026-12-06T12:00:00Z",
         *           "expiresAt": "2027-01-05T12:00:00Z",
         *           "lastUsedAt": "2026-12-06T12:30:00Z"
         *         }
         *       ]
         *     }
         */
        TokenList: {
            tokens: components["schemas"]["TokenInfo"][];
        };
        /**
         * @example {
         *       "token": "fcm_7Hq2Lx9Vd4Nk0Pw3Zr8Tb6Yc1Mf5Sg2JaQe3Wn6Ux0Po",
         *       "expiresAt": "2027-01-05T12:00:00Z",
         *       "user": {
         *         "id": "usr_8d41c07a2e95",
         *         "email": "alice@example.com",
         *         "name": "Alice",
         *         "admin": false
         *       }
         *     }
         */
        TokenGrant: {
            /** @description Shown once; store it in ~/.fcm-token (0600) */
            token: string;
            /** Format: date-time */
            expiresAt: string | null;
            user: components["schemas"]["User"];
        };
        /**
         * @example {
         *       "user": {
         *         "id": "usr_8d41c07a2e95",
         *         "email": "alice@example.com",
         *         "name": "Alice",
         *         "admin": false
         *       },
         *       "csrfToken": "k3Vq9Xw1Lm7Tz0Rb5Nc2Yd8Hf4Gs6Ja",
         *       "expiresAt": "2026-12-07T12:00:00Z"
         *     }
         */
        Session: {
            user: components["schemas"]["User"];
            /** @description Send as `X-FCM-CSRF` with every cookie-authenticated change; null when not authenticated by the cookie */
            csrfToken: string | null;
            /** Format: date-time */
            expiresAt: string | null;
        };
        /**
         * @example {
         *       "token": "fcm_7Hq2Lx9Vd4Nk0Pw3Zr8Tb6Yc1Mf5Sg2JaQe3Wn6Ux0Po"
         *     }
         */
        CreateSessionRequest: {
            /** @description An fcm token (fcm login, or the admin token) */
            token: string;
        };
        /**
         * @example {
         *       "user": {
         *         "id": "usr_8d41c07a2e95",
         *         "email": "alice@example.com",
         *         "name": "Alice",
         *         "admin": false
         *       },
         *       "token": {
         *         "id": "tok_5b2e9f30c1a7",
         *         "kind": "user",
         *         "description": "fcm login on laptop",
         *         "createdAt": "2026-12-06T12:00:00Z",
         *         "expiresAt": "2027-01-05T12:00:00Z",
         *         "lastUsedAt": "2026-12-06T12:30:00Z"
         *       },
         *       "quota": {
         *         "user": "usr_8d41c07a2e95",
         *         "unlimited": false,
         *         "limits": {
         *           "vms": 10,
         *           "vcpus": 16,
         *           "memoryMib": 16384,
         *           "diskMib": 102400,
         *           "configVarsPerApp": 200,
         *           "configBytesPerApp": 65536,
         *           "repoMibPerApp": 512,
         *           "repoMibTotal": 2048,
         *           "pendingDomains": 10
         *         },
         *         "usage": {
         *           "vms": 2,
         *           "vcpus": 3,
         *           "memoryMib": 2048,
         *           "diskMib": 5120,
         *           "configVarsPerApp": 4,
         *           "configBytesPerApp": 180,
         *           "repoMibPerApp": 3,
         *           "repoMibTotal": 4,
         *           "pendingDomains": 1
         *         },
         *         "overrides": {
         *           "vms": 10
         *         }
         *       }
         *     }
         */
        Whoami: {
            user: components["schemas"]["User"];
            token: components["schemas"]["TokenInfo"];
            quota: components["schemas"]["Quota"];
        };
        /**
         * @description `vms`, `vcpus`, `memoryMib`, `diskMib` (root + swap): totals over all the user's VMs, whatever
         *     their state; `configVarsPerApp`, `configBytesPerApp` (keys + values, UTF-8): one app's config
         *     vars; `repoMibPerApp`, `repoMibTotal`: git repositories on disk, one app's and all of them;
         *     `pendingDomains`: custom domains not verified yet.
         * @enum {string}
         */
        QuotaName: "vms" | "vcpus" | "memoryMib" | "diskMib" | "configVarsPerApp" | "configBytesPerApp" | "repoMibPerApp" | "repoMibTotal" | "pendingDomains";
        /**
         * @example {
         *       "vms": 10,
         *       "vcpus": 16,
         *       "memoryMib": 16384,
         *       "diskMib": 102400,
         *       "configVarsPerApp": 200,
         *       "configBytesPerApp": 65536,
         *       "repoMibPerApp": 512,
         *       "repoMibTotal": 2048,
         *       "pendingDomains": 10
         *     }
         */
        QuotaValues: {
            vms: number | null;
            vcpus: number | null;
            memoryMib: number | null;
            diskMib: number | null;
            configVarsPerApp: number | null;
            configBytesPerApp: number | null;
            repoMibPerApp: number | null;
            repoMibTotal: number | null;
            pendingDomains: number | null;
        };
        /**
         * @example {
         *       "user": "usr_8d41c07a2e95",
         *       "unlimited": false,
         *       "limits": {
         *         "vms": 10,
         *         "vcpus": 16,
         *         "memoryMib": 16384,
         *         "diskMib": 102400,
         *         "configVarsPerApp": 200,
         *         "configBytesPerApp": 65536,
         *         "repoMibPerApp": 512,
         *         "repoMibTotal": 2048,
         *         "pendingDomains": 10
         *       },
         *       "usage": {
         *         "vms": 2,
         *         "vcpus": 3,
         *         "memoryMib": 2048,
         *         "diskMib": 5120,
         *         "configVarsPerApp": 4,
         *         "configBytesPerApp": 180,
         *         "repoMibPerApp": 3,
         *         "repoMibTotal": 4,
         *         "pendingDomains": 1
         *       },
         *       "overrides": {
         *         "vms": 10
         *       }
         *     }
         */
        Quota: {
            /** @description The user's id */
            user: string;
            /** @description Admins: no limit applies */
            unlimited: boolean;
            /** @description Each limit in force (null = unlimited) */
            limits: components["schemas"]["QuotaValues"];
            /** @description What the user holds now (per-app values are the largest app's) */
            usage: components["schemas"]["QuotaValues"];
            /** @description Limits an admin set for this user (the others are the daemon's defaults) */
            overrides: {
                vms?: number;
                vcpus?: number;
                memoryMib?: number;
                diskMib?: number;
                configVarsPerApp?: number;
                configBytesPerApp?: number;
                repoMibPerApp?: number;
                repoMibTotal?: number;
                pendingDomains?: number;
            };
        };
        /**
         * @example {
         *       "vms": 20,
         *       "memoryMib": 32768,
         *       "reset": [
         *         "diskMib"
         *       ]
         *     }
         */
        QuotaUpdate: {
            /** @description Number of VMs */
            vms?: number;
            /** @description vCPUs over all VMs */
            vcpus?: number;
            /** @description Guest memory over all VMs (MiB) */
            memoryMib?: number;
            /** @description Root + swap disk over all VMs (MiB) */
            diskMib?: number;
            /** @description Config vars of one app */
            configVarsPerApp?: number;
            /** @description Config var bytes of one app */
            configBytesPerApp?: number;
            /** @description Git repository of one app (MiB) */
            repoMibPerApp?: number;
            /** @description All git repositories (MiB) */
            repoMibTotal?: number;
            /** @description Custom domains waiting for verification */
            pendingDomains?: number;
            /** @description Limits to set back to the daemon's default */
            reset?: components["schemas"]["QuotaName"][];
        };
        /**
         * @description The limit a `quota_exceeded` or `insufficient_capacity` hit: its name (a QuotaName, or for
         *     host capacity `memoryMib` / `vcpus`), its value, what is in use, what the request asked for.
         */
        LimitInfo: {
            /** @example memoryMib */
            name: string;
            value: number;
            usage: number;
            requested: number;
            /** @example MiB */
            unit: string;
        };
        /**
         * @description RFC 9457 problem details with a stable machine-readable `code`
         * @example {
         *       "type": "https://fcm.dev/problems/validation-failed",
         *       "title": "Invalid request",
         *       "status": 400,
         *       "code": "validation_failed",
         *       "detail": "/body/memoryMib must be >= 128",
         *       "errors": [
         *         {
         *           "path": "/body/memoryMib",
         *           "message": "must be >= 128"
         *         }
         *       ],
         *       "requestId": "req_5c1d9e0a7b3f"
         *     }
         */
        Problem: {
            /** Format: uri-reference */
            type: string;
            title: string;
            status: number;
            detail?: string;
            instance?: string;
            code: components["schemas"]["ErrorCode"];
            requestId?: string;
            /** @description For `quota_exceeded` and `insufficient_capacity`, which limit and how far it is used */
            limit?: components["schemas"]["LimitInfo"];
            /** @description For `validation_failed`, each problem with the input */
            errors?: {
                /** @description JSON pointer into the request, e.g. /body/memoryMib */
                path: string;
                message: string;
            }[];
        };
        /** @enum {string} */
        ErrorCode: "validation_failed" | "unauthorized" | "forbidden" | "not_found" | "vm_not_found" | "name_taken" | "domain_taken" | "domain_not_verified" | "key_invalid" | "key_taken" | "key_proof_failed" | "release_not_found" | "snapshot_not_found" | "deploy_failed" | "no_previous_release" | "authorization_pending" | "slow_down" | "access_denied" | "expired_token" | "login_failed" | "auth_not_configured" | "not_implemented" | "invalid_state" | "vm_failed" | "wait_timeout" | "quota_exceeded" | "ip_pool_exhausted" | "insufficient_capacity" | "host_unreachable" | "database_unavailable" | "wrong_host" | "image_missing" | "hypervisor_failed" | "disk_full" | "payload_too_large" | "backup_invalid" | "unsupported_media_type" | "method_not_allowed" | "rate_limited" | "too_many_runs" | "guest_unreachable" | "csrf_failed" | "internal";
    };
    responses: {
        /** @description An error, as RFC 9457 problem details */
        Problem: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/problem+json": components["schemas"]["Problem"];
            };
        };
    };
    parameters: {
        /** @description The VM's name */
        VmName: components["schemas"]["VmName"];
        /** @description The snapshot's name */
        SnapshotName: components["schemas"]["SnapshotName"];
    };
    requestBodies: never;
    headers: never;
    pathItems: never;
};
export type $defs = Record<string, never>;
export interface operations {
    getHealth: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The daemon is up */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
        };
    };
    listHosts: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The hosts, by id */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HostList"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    listVms: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The VMs visible to the caller, oldest first */
            200: {
                headers: {
                    /** @description The list's version for this caller (strong; compare as RFC 9110 says) */
                    ETag?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["VmList"];
                };
            };
            /** @description Not modified (the request's If-None-Match holds the list's current ETag); no body */
            304: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            default: components["responses"]["Problem"];
        };
    };
    createVm: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["CreateVmRequest"];
            };
        };
        responses: {
            /** @description Created; the hypervisor is running and the guest is booting */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Vm"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    getVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The VM */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Vm"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    deleteVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            default: components["responses"]["Problem"];
        };
    };
    updateVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["UpdateVmRequest"];
            };
        };
        responses: {
            /** @description The updated VM */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Vm"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    listDomains: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The VM's custom domains */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CustomDomainList"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    verifyDomain: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
                /** @description One of the VM's custom domains */
                domain: components["schemas"]["Hostname"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The domain, verified */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CustomDomain"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    startVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The hypervisor is running; the guest is booting */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Vm"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    sleepVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Asleep */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Vm"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    listSnapshots: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Snapshots */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SnapshotList"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    createSnapshot: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                /**
                 * @example {
                 *       "snapshot": "before-migration"
                 *     }
                 */
                "application/json": {
                    snapshot?: components["schemas"]["SnapshotName"];
                };
            };
        };
        responses: {
            /** @description The snapshot */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Snapshot"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    deleteSnapshot: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
                /** @description The snapshot's name */
                snapshot: components["parameters"]["SnapshotName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            default: components["responses"]["Problem"];
        };
    };
    restoreSnapshot: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
                /** @description The snapshot's name */
                snapshot: components["parameters"]["SnapshotName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The VM, restored; its guest resumes */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Vm"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    stopVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["StopVmRequest"];
            };
        };
        responses: {
            /** @description Stopped */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Vm"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    restartVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": components["schemas"]["StopVmRequest"];
            };
        };
        responses: {
            /** @description The hypervisor is running again; the guest is booting */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Vm"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    waitVm: {
        parameters: {
            query?: {
                /** @description The state to wait for */
                state?: components["schemas"]["VmState"];
                /** @description Seconds to wait */
                timeout?: number;
            };
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The VM is in the requested state */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Vm"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    openConsole: {
        parameters: {
            query?: {
                /** @description A single-use console ticket (browser clients) */
                ticket?: string;
            };
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Switching protocols; the console stream follows */
            101: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            default: components["responses"]["Problem"];
        };
    };
    runCommand: {
        parameters: {
            query: {
                /** @description The program and its arguments, one parameter each, in order */
                argv: string[];
                /** @description Seconds; the command is killed when they pass */
                timeout?: number;
            };
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Switching protocols; the command's streams follow */
            101: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            default: components["responses"]["Problem"];
        };
    };
    createConsoleTicket: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A ticket, valid for one connection within 60 seconds */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ConsoleTicket"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    listReleases: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Releases */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ReleaseList"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    getRelease: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
                version: number;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The release */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Release"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    rollbackVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: {
            content: {
                "application/json": {
                    /** @description Release to go back to */
                    version?: number;
                };
            };
        };
        responses: {
            /** @description The new release */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Release"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    getEnv: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Config vars */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EnvVars"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    updateEnv: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["EnvUpdate"];
            };
        };
        responses: {
            /** @description The config vars after the change */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EnvVars"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    getLogs: {
        parameters: {
            query?: {
                follow?: boolean;
                /** @description How many recent lines to send first */
                lines?: number;
            };
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Log lines */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    /**
                     * @example 2026-12-06T12:00:21.114Z web[1]: Listening on 0.0.0.0:8000
                     *     2026-12-06T12:00:24.503Z web[1]: GET / 200 3ms
                     *     2026-12-06T12:00:25.020Z worker[1]: processed job 42
                     */
                    "text/plain": string;
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    listKeys: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Keys */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SshKeyList"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    addKey: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AddKeyRequest"];
            };
        };
        responses: {
            /** @description The key */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SshKey"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    createKeyChallenge: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    publicKey: components["schemas"]["AddKeyRequest"]["publicKey"];
                };
            };
        };
        responses: {
            /** @description Sign `challenge` with the key */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyChallenge"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    removeKey: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Removed */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            default: components["responses"]["Problem"];
        };
    };
    getAuthConfig: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Login configuration */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthConfig"];
                };
            };
        };
    };
    startLogin: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["StartLoginRequest"];
            };
        };
        responses: {
            /** @description Open `authorizeUrl` in a browser */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["LoginStarted"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    authCallback: {
        parameters: {
            query?: {
                code?: string;
                state?: string;
                iss?: string;
                error?: string;
                error_description?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Redirect to the CLI's loopback URI with a one-time code (a dashboard login, startSessionLogin, to `/dashboard/` with the session cookie set) */
            302: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            default: components["responses"]["Problem"];
        };
    };
    exchangeLoginCode: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ExchangeCodeRequest"];
            };
        };
        responses: {
            /** @description A new fcm token */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TokenGrant"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    startDeviceLogin: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Show the user `userCode` and `verificationUri` */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeviceLogin"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    pollDeviceLogin: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    deviceCode: string;
                };
            };
        };
        responses: {
            /** @description A new fcm token */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TokenGrant"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    whoami: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The caller */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Whoami"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    logout: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Revoked */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            default: components["responses"]["Problem"];
        };
    };
    getSession: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The session */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Session"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    createSession: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateSessionRequest"];
            };
        };
        responses: {
            /** @description Signed in; the cookie is set */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Session"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    deleteSession: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Signed out */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            default: components["responses"]["Problem"];
        };
    };
    startSessionLogin: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Open `authorizeUrl` in this browser */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["LoginStarted"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    getQuota: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A user id (usr_…), an email address, `admin` (the admin token), or `me` */
                user: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The quota */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Quota"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    updateQuota: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A user id (usr_…), an email address, `admin` (the admin token), or `me` */
                user: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["QuotaUpdate"];
            };
        };
        responses: {
            /** @description The quota after the change */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Quota"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    listTokens: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Tokens */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TokenList"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    revokeToken: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Revoked */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            default: components["responses"]["Problem"];
        };
    };
    exportBackup: {
        parameters: {
            query?: {
                /**
                 * @description Carry the VM's memory state too (`memory.bin`: the sleep save taken with the
                 *     disk, the guest's identity watch armed just before it; the VM disarms it when it
                 *     wakes and keeps its identity). An import checks it like every member and, where it
                 *     can, resumes it with the new VM's own identity (see importBackup).
                 */
                withMemory?: boolean;
            };
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The archive, streamed */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    /** @example (binary: a POSIX tar archive — manifest.json, disk.qcow2, config.json, releases.json, manifest.sha256) */
                    "application/x-fcm-backup": string;
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    importBackup: {
        parameters: {
            query?: {
                /** @description The new VM's name (default the exported VM's) */
                name?: components["schemas"]["VmName"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /** @example (binary: an archive written by exportBackup, e.g. fcm backup export > cosmic-nova.fcm-backup) */
                "application/x-fcm-backup": string;
            };
        };
        responses: {
            /** @description Imported; the VM is starting */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Vm"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
    forkVm: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The VM's name */
                name: components["parameters"]["VmName"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ForkVmRequest"];
            };
        };
        responses: {
            /** @description Forked; the fork is starting (taking on its identity) */
            201: {
                headers: {
                    /** @description How long the parent's guest was paused for the capture, in ms (QEMU's own clock) */
                    "Fcm-Parent-Paused-Ms"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Vm"];
                };
            };
            default: components["responses"]["Problem"];
        };
    };
}
