// GENERATED from openapi.yaml by `npm run gen` — do not edit.
/* eslint-disable */
export const spec: Record<string, any> = {
  "openapi": "3.1.0",
  "info": {
    "title": "fcm",
    "version": "0.1.0",
    "summary": "Apps in microVMs on your own server.",
    "description": "The one contract between the fcm daemon and every client: the `fcm` CLI,\nthe Pulumi and Terraform providers, and curl.\n\nEvery error is an RFC 9457 `application/problem+json` document with a\nstable `code`; clients branch on `code`, never on the message text.\n\nRequests are limited: per client address for what needs no token\n(starting a login — operations marked `x-rate-limit: login` — more\nstrictly than the rest), per user for what a user's token does. Over the\nlimit the answer is 429 `rate_limited` with a `Retry-After` header\n(seconds). Behind a reverse proxy the client address comes from\n`X-Forwarded-For`, believed only from the daemon's trusted proxies.\n\nBrowsers (the dashboard at `/dashboard`) authenticate with an HttpOnly,\nSameSite=Strict session cookie instead of a bearer header (`session`\nscheme; POST /v1/auth/session or /v1/auth/session/login). A request\nauthenticated by that cookie that changes anything (any method but GET and\nHEAD) must carry `X-FCM-CSRF` with the session's `csrfToken` (GET\n/v1/auth/session), or it is refused with 403 `csrf_failed`. The cookie\nnever opens a console WebSocket (use a ticket) or git over HTTPS.\n",
    "x-cli-notes": "For the CLI generator and the spec's authors; the reader copy served at\n/docs leaves out every `x-cli*` key.\n\n`x-cli` on an operation describes the `fcm` command generated from it:\n`command` (name; two words make a subcommand, e.g. `keys add`), `args`\n(positional parameters, in order; the VM `name` defaults to the one\nremembered in `./.fcm`, and a `name` path parameter not listed becomes the\n`-a/--app` flag with that default), `argFromFile` (the positional is a file\nwhose contents are sent), `columns` (table output: field names or\n`{field, title, format: age}`), `empty` (text for an empty list),\n`message` (success line with `{field}` placeholders), `short` (one-letter\nflag aliases), `waitFor` (poll wait-for-state after the call, unless the\nanswer is already in that state or stopped/sleeping), `progress` (a\nspinner label on stderr while the call runs), `confirm` (ask before doing\nit), `summary`, `description`, `examples`. Every command about one VM\nalso takes `-a/--app <name>`.\n",
    "license": {
      "name": "Apache-2.0",
      "identifier": "Apache-2.0"
    }
  },
  "servers": [
    {
      "url": "http://localhost:7777"
    }
  ],
  "security": [
    {
      "bearer": []
    },
    {
      "session": []
    }
  ],
  "tags": [
    {
      "name": "vms",
      "description": "MicroVM lifecycle"
    },
    {
      "name": "deploys",
      "description": "Releases, config vars and logs of the app deployed with git push"
    },
    {
      "name": "keys",
      "description": "SSH keys for git push"
    },
    {
      "name": "console",
      "description": "The VM's serial console"
    },
    {
      "name": "auth",
      "description": "Login, tokens and identity"
    },
    {
      "name": "users",
      "description": "Per-user quotas"
    },
    {
      "name": "system",
      "description": "Daemon health and metadata"
    }
  ],
  "paths": {
    "/v1/health": {
      "get": {
        "operationId": "getHealth",
        "tags": [
          "system"
        ],
        "summary": "Daemon health, hypervisor in use and dependency status",
        "security": [],
        "x-cli": {
          "command": "health",
          "summary": "Show the daemon's health",
          "examples": [
            "fcm health",
            "fcm health --json"
          ]
        },
        "responses": {
          "200": {
            "description": "The daemon is up",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Health"
                }
              }
            }
          }
        }
      }
    },
    "/v1/hosts": {
      "get": {
        "operationId": "listHosts",
        "tags": [
          "system"
        ],
        "summary": "The cluster's hosts, their capacity and usage (admins only)",
        "x-admin-only": true,
        "description": "Every daemon joined to the same database (FCM_DATABASE_URL) registers itself and renews\na lease; a host whose lease lapsed is `unreachable`. A daemon on SQLite is a cluster of\none: it lists itself. Usage counts what VMs on the host hold (memory and vCPUs of VMs\nwith a hypervisor process; disk of every VM). (`fcm hosts` is something else: the servers\nthis laptop is logged in to.)\n",
        "x-cli": {
          "command": "cluster hosts",
          "summary": "List the cluster's hosts with capacity and usage (admin)",
          "columns": [
            "id",
            "state",
            "publicIp",
            "vms",
            "usedMemoryMib",
            "memoryMib",
            "usedVcpus",
            "vcpus",
            "subnet",
            {
              "field": "renewedAt",
              "title": "RENEWED",
              "format": "age"
            }
          ],
          "examples": [
            "fcm cluster hosts",
            "fcm cluster hosts --json"
          ]
        },
        "responses": {
          "200": {
            "description": "The hosts, by id",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/HostList"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms": {
      "get": {
        "operationId": "listVms",
        "tags": [
          "vms"
        ],
        "summary": "List VMs",
        "x-cli": {
          "command": "ls",
          "summary": "List your VMs",
          "columns": [
            "name",
            "state",
            "ip",
            "url",
            {
              "field": "createdAt",
              "title": "AGE",
              "format": "age"
            }
          ],
          "empty": "No VMs yet. Create one with: fcm create",
          "examples": [
            "fcm ls",
            "fcm ls --json"
          ]
        },
        "description": "The answer carries an `ETag` that changes whenever the list could (a VM\ncreated, deleted, renamed, changed or changing state, a host becoming\nunreachable); send it back in `If-None-Match` and an unchanged list\nanswers `304 Not Modified` without a body. Tags are per caller\n(`Cache-Control: private`). Clients that accept gzip (`Accept-Encoding`)\nget the list gzipped, with its own tag; either tag answers 304.\n",
        "responses": {
          "200": {
            "description": "The VMs visible to the caller, oldest first",
            "headers": {
              "ETag": {
                "description": "The list's version for this caller (strong; compare as RFC 9110 says)",
                "schema": {
                  "type": "string",
                  "examples": [
                    "\"3q2-7wEjGsX2l8Qkn4aKTbB9wYQ\""
                  ]
                }
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/VmList"
                }
              }
            }
          },
          "304": {
            "description": "Not modified (the request's If-None-Match holds the list's current ETag); no body"
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      },
      "post": {
        "operationId": "createVm",
        "tags": [
          "vms"
        ],
        "summary": "Create and boot a VM",
        "description": "Allocates an address, a copy-on-write disk and a tap device, then\nstarts the hypervisor. Returns once the hypervisor process is\nrunning (state `starting`); the VM becomes `running` when the guest\nhas booted — poll `GET /v1/vms/{name}/wait?state=running`.\nAll-or-nothing: on any failure everything made so far is undone.\n",
        "x-cli": {
          "flagNames": {
            "host": "on-host"
          },
          "command": "create",
          "args": [
            "name"
          ],
          "waitFor": "running",
          "summary": "Create a VM (and remember it in ./.fcm)",
          "description": "Creates a VM and waits until it has booted (--no-wait returns at once).\nWithout a name, fcm picks one like cosmic-nova. Writes ./.fcm\n({\"vm\": ..., \"host\": ...}) so later commands here (stop, start,\ndestroy, ...) default to this VM.\n",
          "message": "VM created: {name}\nURL: {url}",
          "examples": [
            "fcm create",
            "fcm create my-app --memory-mib 2048",
            "fcm create preview --sleep-after 15m"
          ]
        },
        "requestBody": {
          "required": false,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/CreateVmRequest"
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "Created; the hypervisor is running and the guest is booting",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Vm"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "get": {
        "operationId": "getVm",
        "tags": [
          "vms"
        ],
        "summary": "Get a VM",
        "x-cli": {
          "command": "show",
          "args": [
            "name"
          ],
          "summary": "Show one VM",
          "examples": [
            "fcm show",
            "fcm show cosmic-nova --json"
          ]
        },
        "responses": {
          "200": {
            "description": "The VM",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Vm"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      },
      "delete": {
        "operationId": "deleteVm",
        "tags": [
          "vms"
        ],
        "summary": "Delete a VM and everything it owns",
        "description": "Stops the hypervisor (forcefully) and removes its disk, tap and address. A VM whose\nhost is `unreachable` (its lease lapsed) is deleted too: its row goes at once (name,\naddress and quota are free) and its host removes the process, tap, disks and route\nwhen it returns.\n",
        "x-cli": {
          "command": "destroy",
          "args": [
            "name"
          ],
          "confirm": "Destroy {name}? Its disk and everything on it will be deleted.",
          "progress": "Destroying {name}",
          "summary": "Destroy a VM and its disk",
          "message": "Destroyed {name}.",
          "examples": [
            "fcm destroy",
            "fcm destroy cosmic-nova --yes"
          ]
        },
        "responses": {
          "204": {
            "description": "Deleted"
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      },
      "patch": {
        "operationId": "updateVm",
        "tags": [
          "vms"
        ],
        "summary": "Change a VM's size, custom domains or idle sleep",
        "description": "Changing `vcpus` or `memoryMib` of a running VM restarts it (graceful\nstop, then start) so the new size takes effect; a stopped VM keeps\nthe new size for its next start. `domains` replaces the VM's list of\ncustom domains (routes follow immediately, no restart). `sleepAfter`\nsets when an idle VM sleeps (`off`: never).\n",
        "x-cli": {
          "command": "update",
          "args": [
            "name"
          ],
          "progress": "Updating {name}",
          "waitFor": "running",
          "summary": "Resize a VM or set its custom domains",
          "description": "Changes the VM's size (a running VM restarts to take it: fcm waits until\nit is running again, --no-wait returns at once), its custom domains or\nwhen it sleeps when idle.\n",
          "examples": [
            "fcm update --memory-mib 2048",
            "fcm update --domains www.example.com,example.com",
            "fcm update --sleep-after 15m",
            "fcm update --sleep-after off"
          ]
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/UpdateVmRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The updated VM",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Vm"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/domains": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "get": {
        "operationId": "listDomains",
        "tags": [
          "vms"
        ],
        "summary": "The VM's custom domains, their status and the DNS record that verifies each",
        "description": "Custom domains are added with `domains` on create or update. Each stays\n`pending` (no route, no certificate) until its owner proves control:\ncreate the TXT record shown (`recordName` = `recordValue`), then verify.\n",
        "x-cli": {
          "command": "domains",
          "args": [
            "name"
          ],
          "summary": "List a VM's custom domains and the DNS record that verifies each",
          "columns": [
            "domain",
            "status",
            {
              "field": "recordName",
              "title": "TXT RECORD"
            },
            {
              "field": "recordValue",
              "title": "VALUE"
            }
          ],
          "empty": "No custom domains. Add one with: fcm update --domains www.example.com",
          "examples": [
            "fcm domains",
            "fcm domains cosmic-nova --json"
          ]
        },
        "responses": {
          "200": {
            "description": "The VM's custom domains",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/CustomDomainList"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/domains/{domain}/verify": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        },
        {
          "name": "domain",
          "in": "path",
          "required": true,
          "description": "One of the VM's custom domains",
          "schema": {
            "$ref": "#/components/schemas/Hostname"
          }
        }
      ],
      "post": {
        "operationId": "verifyDomain",
        "tags": [
          "vms"
        ],
        "summary": "Check the domain's TXT record now; on success the domain is routed",
        "description": "Looks up `_fcm-challenge.<domain>` through the daemon's resolvers. If\nit holds this VM owner's token for the domain, the domain becomes\n`verified` and is routed (with a certificate). `domain_not_verified`\nsays what was found instead; `domain_taken` when another VM has it\nverified.\n",
        "x-cli": {
          "command": "domains verify",
          "args": [
            "domain"
          ],
          "summary": "Verify a custom domain (after creating its TXT record)",
          "message": "{domain} is verified and routed.",
          "examples": [
            "fcm domains verify www.example.com"
          ]
        },
        "responses": {
          "200": {
            "description": "The domain, verified",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/CustomDomain"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/start": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "post": {
        "operationId": "startVm",
        "tags": [
          "vms"
        ],
        "summary": "Start a stopped VM, or wake a sleeping one",
        "description": "Starting a VM that is already running or starting succeeds and changes nothing.\nA `sleeping` VM is woken: restored from its saved memory, it resumes where it\npaused (processes, open files, the app's state); if its saved state cannot be\nrestored it cold-boots from its disk instead and `lastError` says why.\n",
        "x-cli": {
          "command": "start",
          "args": [
            "name"
          ],
          "waitFor": "running",
          "summary": "Start a stopped VM (or wake a sleeping one)",
          "message": "Started {name}: {url}",
          "examples": [
            "fcm start",
            "fcm start cosmic-nova"
          ]
        },
        "responses": {
          "200": {
            "description": "The hypervisor is running; the guest is booting",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Vm"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/sleep": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "post": {
        "operationId": "sleepVm",
        "tags": [
          "vms"
        ],
        "summary": "Put a running VM to sleep (memory saved to disk, process ended)",
        "description": "Saves the VM's memory and device state to disk (the guest is paused, its\ndisk writes flushed) and ends its hypervisor process, so the VM holds no\nhost memory or CPU and does not count against host capacity. The state is\n`sleeping` from the moment the save begins; answers once the save is done.\nA sleeping VM wakes — restored where it paused, nothing lost — on the first\nHTTP request to its URL (the request is held until the app answers, then\nserved), on `fcm start`, and when a console, `fcm logs` or a `git push`\nneeds it. Sleeping a sleeping VM succeeds and changes nothing; other states\nthan `running` are `invalid_state`; a hypervisor that cannot save machines\nanswers `not_implemented`. Stopping a sleeping VM drops its saved memory.\n",
        "x-cli": {
          "command": "sleep",
          "args": [
            "name"
          ],
          "progress": "Putting {name} to sleep",
          "summary": "Put a VM to sleep (memory to disk; the next request wakes it)",
          "description": "Saves the VM's memory to disk and ends its process: it uses no memory or\nCPU until something needs it. The first HTTP request to its URL wakes it\n(held, then served — no error page), as do fcm start, fcm console,\nfcm logs and git push. Apps resume where they paused.\n",
          "message": "{name} is asleep. The next request to {url} wakes it (or: fcm start {name}).",
          "examples": [
            "fcm sleep",
            "fcm sleep cosmic-nova --json"
          ]
        },
        "responses": {
          "200": {
            "description": "Asleep",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Vm"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/snapshots": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "get": {
        "operationId": "listSnapshots",
        "tags": [
          "vms"
        ],
        "summary": "The VM's snapshots, oldest first",
        "x-cli": {
          "command": "snapshot ls",
          "summary": "List a VM's snapshots",
          "columns": [
            "snapshot",
            {
              "field": "pausedMs",
              "title": "PAUSED MS"
            },
            {
              "field": "sizeBytes",
              "title": "BYTES"
            },
            {
              "field": "createdAt",
              "title": "AGE",
              "format": "age"
            }
          ],
          "empty": "No snapshots. Take one with: fcm snapshot create <snapshot>",
          "examples": [
            "fcm snapshot ls",
            "fcm snapshot ls -a cosmic-nova --json"
          ]
        },
        "responses": {
          "200": {
            "description": "Snapshots",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/SnapshotList"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      },
      "post": {
        "operationId": "createSnapshot",
        "tags": [
          "vms"
        ],
        "summary": "Take a point-in-time snapshot of a running VM (memory + disk)",
        "description": "Saves the running VM's memory and device state and a point-in-time copy\nof its disks, consistent with each other (what a restore brings back is\nthe machine exactly as it was at one instant, unsynced writes included).\nThe guest is paused (its disks drained and flushed) while the root disk\ngets a qcow2 internal snapshot (copy-on-write: it costs disk only for\nwhat changes afterwards), its swap a sparse copy, and its used memory\nis written out; then it runs on. `pausedMs` is that pause as QEMU\nmeasured it (about the time to write the guest's used RAM). The\nsnapshot's memory state is a file beside the VM's disks; deleting the\nVM deletes its snapshots.\nThe VM must be `running` (`invalid_state` otherwise); a name in use is\n`name_taken`; more than the daemon's snapshots per VM is\n`quota_exceeded` (limit `snapshotsPerVm`); a hypervisor that cannot\ntake live snapshots answers `not_implemented`. A failed snapshot leaves\nnothing behind and the VM running.\n",
        "x-cli": {
          "command": "snapshot create",
          "args": [
            "snapshot"
          ],
          "summary": "Snapshot a running VM (memory + disk, a short pause)",
          "description": "Takes a point-in-time snapshot of the VM (the one in ./.fcm, or -a/--app):\nits memory, processes and disk exactly as they are now. The VM keeps\nrunning; it is paused only while its used memory is written (pausedMs\nsays how long). `fcm snapshot restore <snapshot>` brings it all back;\nthe snapshot costs disk only for its memory and what changes later.\n",
          "message": "Snapshot {snapshot} of {vm} taken (paused {pausedMs} ms).",
          "examples": [
            "fcm snapshot create before-migration",
            "fcm snapshot create -a cosmic-nova nightly --json"
          ]
        },
        "requestBody": {
          "required": false,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                  "snapshot": {
                    "$ref": "#/components/schemas/SnapshotName"
                  }
                }
              },
              "example": {
                "snapshot": "before-migration"
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "The snapshot",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Snapshot"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/snapshots/{snapshot}": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        },
        {
          "$ref": "#/components/parameters/SnapshotName"
        }
      ],
      "delete": {
        "operationId": "deleteSnapshot",
        "tags": [
          "vms"
        ],
        "summary": "Delete a snapshot",
        "description": "Deletes the snapshot's memory state and its disk snapshot; the VM is not touched. `snapshot_not_found` when there is none of that name.",
        "x-cli": {
          "command": "snapshot rm",
          "args": [
            "snapshot"
          ],
          "summary": "Delete a snapshot",
          "message": "Deleted snapshot {snapshot}.",
          "examples": [
            "fcm snapshot rm before-migration"
          ]
        },
        "responses": {
          "204": {
            "description": "Deleted"
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/snapshots/{snapshot}/restore": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        },
        {
          "$ref": "#/components/parameters/SnapshotName"
        }
      ],
      "post": {
        "operationId": "restoreSnapshot",
        "tags": [
          "vms"
        ],
        "summary": "Roll the VM back to a snapshot (memory + disk)",
        "description": "Ends the VM's current process (if any), rolls its disks back to the\nsnapshot and restores its memory: the VM runs again exactly as it was\nwhen the snapshot was taken; everything since is gone (the snapshot\nitself stays, and can be restored again). Works on a running, stopped,\nfailed or sleeping VM (a sleeping VM's saved memory is dropped). The VM\nis `starting` until its agent answers. A VM resized since the snapshot\nis `invalid_state`. If the restore fails the VM is `failed` with\n`lastError` saying why; `fcm start` boots it from its (rolled back) disk.\n",
        "x-cli": {
          "command": "snapshot restore",
          "args": [
            "snapshot"
          ],
          "waitFor": "running",
          "confirm": "Roll {name} back to snapshot {snapshot}? Everything since (memory and disk) is lost.",
          "summary": "Roll a VM back to a snapshot (memory + disk)",
          "message": "{name} is back at snapshot {snapshot}: {url}",
          "examples": [
            "fcm snapshot restore before-migration",
            "fcm snapshot restore -a cosmic-nova nightly --yes"
          ]
        },
        "responses": {
          "200": {
            "description": "The VM, restored; its guest resumes",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Vm"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/stop": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "post": {
        "operationId": "stopVm",
        "tags": [
          "vms"
        ],
        "summary": "Stop a VM (graceful, then forced)",
        "description": "Asks the guest to shut down (Ctrl-Alt-Del) and waits up to `timeoutMs`;\nthen kills the hypervisor. Stopping a stopped VM succeeds.\n",
        "x-cli": {
          "command": "stop",
          "args": [
            "name"
          ],
          "progress": "Stopping {name}",
          "summary": "Stop a VM (graceful, then forced after a timeout)",
          "message": "Stopped {name}.",
          "examples": [
            "fcm stop",
            "fcm stop cosmic-nova --timeout-ms 2000",
            "fcm stop --force"
          ]
        },
        "requestBody": {
          "required": false,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/StopVmRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "Stopped",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Vm"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/restart": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "post": {
        "operationId": "restartVm",
        "tags": [
          "vms"
        ],
        "summary": "Stop then start a VM",
        "x-cli": {
          "command": "restart",
          "args": [
            "name"
          ],
          "progress": "Stopping {name}",
          "waitFor": "running",
          "summary": "Restart a VM",
          "message": "Restarted {name}: {url}",
          "examples": [
            "fcm restart"
          ]
        },
        "requestBody": {
          "required": false,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/StopVmRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The hypervisor is running again; the guest is booting",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Vm"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/wait": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "get": {
        "operationId": "waitVm",
        "tags": [
          "vms"
        ],
        "summary": "Wait until a VM reaches a state",
        "description": "Long-polls until the VM is in `state` (200) or `timeout` seconds pass\n(408, code `wait_timeout`). If the VM ends up `failed` while waiting\nfor another state, answers 409 with code `vm_failed`.\n",
        "x-cli": {
          "command": "wait",
          "args": [
            "name"
          ],
          "summary": "Wait for a VM to reach a state",
          "message": "{name} is {state}.",
          "examples": [
            "fcm wait --state running --timeout 60"
          ]
        },
        "parameters": [
          {
            "name": "state",
            "in": "query",
            "required": false,
            "description": "The state to wait for",
            "schema": {
              "$ref": "#/components/schemas/VmState",
              "default": "running"
            }
          },
          {
            "name": "timeout",
            "in": "query",
            "required": false,
            "description": "Seconds to wait",
            "schema": {
              "type": "integer",
              "minimum": 1,
              "maximum": 600,
              "default": 60
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The VM is in the requested state",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Vm"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/console": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "get": {
        "operationId": "openConsole",
        "tags": [
          "console"
        ],
        "summary": "Attach to the VM's serial console (WebSocket)",
        "description": "Upgrades to a WebSocket (RFC 6455). Binary frames carry terminal bytes in\nboth directions; text frames carry JSON control messages:\nclient → server `{\"type\":\"resize\",\"cols\":120,\"rows\":40}` (cols 2-1000, rows 1-1000);\nserver → client `{\"type\":\"hello\",\"vm\":\"...\",\"replayBytes\":N}` first (then the\nreplay as binary frames), `{\"type\":\"error\",\"message\":\"...\"}` for a bad control\nmessage (the session stays open), and `{\"type\":\"exit\",\"reason\":\"...\"}` then\nclose 1000 when the VM stops, fails or is deleted. Other close codes: 1001 the\ndaemon is restarting (reconnect), 4008 the client read too slowly, 1009 a frame\nover 1 MiB, 1008 the token (or user) that opened it was revoked — an `error`\nmessage says so first; reconnecting with it is refused.\nOn connect the server replays recent output (bounded scrollback), then\nstreams live. The shell belongs to the VM: it keeps running when every\nclient is gone and when the daemon restarts; several clients may attach.\nAuth: bearer header (CLI), or `?ticket=` from createConsoleTicket (browsers\ncannot set headers on WebSockets).\n",
        "x-websocket": true,
        "security": [
          {
            "bearer": []
          },
          {}
        ],
        "parameters": [
          {
            "name": "ticket",
            "in": "query",
            "required": false,
            "description": "A single-use console ticket (browser clients)",
            "schema": {
              "type": "string",
              "minLength": 10,
              "maxLength": 200
            }
          }
        ],
        "responses": {
          "101": {
            "description": "Switching protocols; the console stream follows"
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/run": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "get": {
        "operationId": "runCommand",
        "tags": [
          "console"
        ],
        "summary": "Run a one-off command in the VM (WebSocket)",
        "description": "Upgrades to a WebSocket (RFC 6455) running one command (`fcm run`): `argv`\n(repeat the parameter per item; no shell: ask for `sh -c '...'` yourself) as the\napp user, in the live release's directory with the app's environment (config\nvars, `PORT`, the buildpack's runtime, `DYNO=run.1`). A sleeping VM is woken\nfirst, a starting one awaited. Everything is checked before the upgrade: a\nrefusal is a problem+json answer — `validation_failed` (no argv, an empty\nprogram, more than 8 KiB of argv), `vm_not_found`, `invalid_state` (the VM is\nstopped or failed), `too_many_runs` (4 already run in that VM),\n`guest_unreachable`.\n\nServer → client: binary frames whose first byte says the stream (`1` stdout,\n`2` stderr) followed by the bytes; then one text frame\n`{\"type\":\"exit\",\"code\":7,\"signal\":null,\"timedOut\":false}` (`code` null when a\nsignal ended it, `timedOut` when `timeout` passed) and close 1000. If the guest\nagent breaks off: `{\"type\":\"error\",\"message\":\"...\"}` and close 1011.\nClient → server: binary frames are stdin; text frames are\n`{\"type\":\"eof\"}` (end of stdin) and `{\"type\":\"signal\",\"signal\":\"INT\"}` (HUP, INT,\nQUIT, TERM, KILL, USR1, USR2, to the command's process group). Closing the\nWebSocket kills the command (SIGHUP, then SIGKILL). Non-interactive: no\nterminal (use `fcm console` for one). Auth: bearer header.\n",
        "x-websocket": true,
        "parameters": [
          {
            "name": "argv",
            "in": "query",
            "required": true,
            "description": "The program and its arguments, one parameter each, in order",
            "style": "form",
            "explode": true,
            "schema": {
              "type": "array",
              "minItems": 1,
              "maxItems": 256,
              "items": {
                "type": "string",
                "maxLength": 8192
              }
            }
          },
          {
            "name": "timeout",
            "in": "query",
            "required": false,
            "description": "Seconds; the command is killed when they pass",
            "schema": {
              "type": "integer",
              "minimum": 1,
              "maximum": 86400,
              "default": 3600
            }
          }
        ],
        "responses": {
          "101": {
            "description": "Switching protocols; the command's streams follow"
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/console/tickets": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "post": {
        "operationId": "createConsoleTicket",
        "tags": [
          "console"
        ],
        "summary": "Get a short-lived single-use ticket for the web console",
        "responses": {
          "201": {
            "description": "A ticket, valid for one connection within 60 seconds",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ConsoleTicket"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/releases": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "get": {
        "operationId": "listReleases",
        "tags": [
          "deploys"
        ],
        "summary": "List the VM's releases, newest first",
        "x-cli": {
          "command": "releases",
          "args": [
            "name"
          ],
          "summary": "List releases (deploys, rollbacks, config changes)",
          "columns": [
            "version",
            "status",
            "commit",
            "description",
            {
              "field": "createdAt",
              "title": "AGE",
              "format": "age"
            }
          ],
          "empty": "No releases yet. Deploy with: git push <remote> main",
          "examples": [
            "fcm releases",
            "fcm releases --json"
          ]
        },
        "responses": {
          "200": {
            "description": "Releases",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ReleaseList"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/releases/{version}": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        },
        {
          "name": "version",
          "in": "path",
          "required": true,
          "schema": {
            "type": "integer",
            "minimum": 1
          }
        }
      ],
      "get": {
        "operationId": "getRelease",
        "tags": [
          "deploys"
        ],
        "summary": "One release, with its build log",
        "x-cli": {
          "command": "releases show",
          "args": [
            "version"
          ],
          "summary": "Show one release and its build log",
          "description": "The release's details, then its build log as the push printed it\n(--json: the release object, log included).\n",
          "examples": [
            "fcm releases show 3",
            "fcm releases show 3 -a cosmic-nova",
            "fcm releases show 3 --json"
          ]
        },
        "responses": {
          "200": {
            "description": "The release",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Release"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/rollback": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "post": {
        "operationId": "rollbackVm",
        "tags": [
          "deploys"
        ],
        "summary": "Go back to an earlier release",
        "description": "Starts the given release's code again (default: the release before the\ncurrent one) as a new release, with zero downtime like a deploy.\n",
        "x-cli": {
          "command": "rollback",
          "args": [
            "version"
          ],
          "progress": "Rolling back {name}",
          "summary": "Roll back to an earlier release (default: the previous one)",
          "message": "Rolled back {name} to v{rollbackOf} (now v{version})",
          "examples": [
            "fcm rollback",
            "fcm rollback 3"
          ]
        },
        "requestBody": {
          "required": false,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                  "version": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Release to go back to"
                  }
                },
                "examples": [
                  {
                    "version": 2
                  }
                ]
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The new release",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Release"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/env": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "get": {
        "operationId": "getEnv",
        "tags": [
          "deploys"
        ],
        "summary": "The app's config vars",
        "x-cli": {
          "command": "env",
          "args": [
            "name"
          ],
          "summary": "Show config vars",
          "examples": [
            "fcm env",
            "fcm env --json"
          ]
        },
        "responses": {
          "200": {
            "description": "Config vars",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/EnvVars"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      },
      "patch": {
        "operationId": "updateEnv",
        "tags": [
          "deploys"
        ],
        "summary": "Set or unset config vars (restarts the app)",
        "description": "Applies `set` then `unset`, records a release, and restarts the app's\nprocesses so they see the new environment (zero downtime for `web`).\nValues are never logged.\n",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/EnvUpdate"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The config vars after the change",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/EnvVars"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/logs": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "get": {
        "operationId": "getLogs",
        "tags": [
          "deploys"
        ],
        "summary": "The app's output (stdout and stderr of its processes)",
        "description": "Plain text, one line per output line, prefixed `<time> <process>[<n>]: `. With `follow=true` the response streams until the client disconnects.",
        "x-cli": {
          "command": "logs",
          "args": [
            "name"
          ],
          "short": {
            "follow": "f"
          },
          "summary": "Show the app's logs (-f to follow)",
          "examples": [
            "fcm logs",
            "fcm logs -f",
            "fcm logs --lines 500"
          ]
        },
        "parameters": [
          {
            "name": "follow",
            "in": "query",
            "required": false,
            "schema": {
              "type": "boolean",
              "default": false
            }
          },
          {
            "name": "lines",
            "in": "query",
            "required": false,
            "description": "How many recent lines to send first",
            "schema": {
              "type": "integer",
              "minimum": 0,
              "maximum": 10000,
              "default": 100
            }
          }
        ],
        "responses": {
          "200": {
            "description": "Log lines",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                },
                "example": "2026-12-06T12:00:21.114Z web[1]: Listening on 0.0.0.0:8000\n2026-12-06T12:00:24.503Z web[1]: GET / 200 3ms\n2026-12-06T12:00:25.020Z worker[1]: processed job 42\n"
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/keys": {
      "get": {
        "operationId": "listKeys",
        "tags": [
          "keys"
        ],
        "summary": "Your SSH public keys (for git push over SSH)",
        "x-cli": {
          "command": "keys",
          "summary": "List your SSH keys",
          "columns": [
            "id",
            "name",
            "fingerprint",
            {
              "field": "createdAt",
              "title": "AGE",
              "format": "age"
            }
          ],
          "empty": "No SSH keys. Add one with: fcm keys add ~/.ssh/id_ed25519.pub",
          "examples": [
            "fcm keys"
          ]
        },
        "responses": {
          "200": {
            "description": "Keys",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/SshKeyList"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      },
      "post": {
        "operationId": "addKey",
        "tags": [
          "keys"
        ],
        "summary": "Register an SSH public key (with proof that you hold its private key)",
        "description": "Send the public key, a challenge from POST /v1/keys/challenges (issued to\nyou for this key, unused, at most 5 minutes old) and an SSH signature of\nthat challenge made with the key in the `fcm-key-proof` namespace:\n\n    printf %s \"$CHALLENGE\" | ssh-keygen -Y sign -n fcm-key-proof -f ~/.ssh/id_ed25519\n\n(`-f` may name the public key when ssh-agent holds the private one.)\n`key_proof_failed` when the proof does not hold; `key_taken` when the\nkey (by fingerprint) is registered already, to any account.\n",
        "x-cli-notes": "`fcm keys add` is hand-written (api/cli/keys.ts): it does both steps and the signing.",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/AddKeyRequest"
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "The key",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/SshKey"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/keys/challenges": {
      "post": {
        "operationId": "createKeyChallenge",
        "tags": [
          "keys"
        ],
        "summary": "A one-time challenge to sign with the key you are adding",
        "description": "Step one of adding a key: the challenge is bound to you and to this key\n(by fingerprint), works once, and for 5 minutes. Sign exactly its text\n(`challenge`) in the `namespace` given. A key registered already (by\nanyone) gets `key_taken` here.\n",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "additionalProperties": false,
                "required": [
                  "publicKey"
                ],
                "properties": {
                  "publicKey": {
                    "$ref": "#/components/schemas/AddKeyRequest/properties/publicKey"
                  }
                },
                "examples": [
                  {
                    "publicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHzRzH1KAjXeOy+OYJ98qhEOrJwV6QaeaukUQq+FLyIX alice@laptop"
                  }
                ]
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "Sign `challenge` with the key",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/KeyChallenge"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/keys/{id}": {
      "parameters": [
        {
          "name": "id",
          "in": "path",
          "required": true,
          "schema": {
            "type": "string",
            "pattern": "^key_[0-9a-f]{12}$"
          }
        }
      ],
      "delete": {
        "operationId": "removeKey",
        "tags": [
          "keys"
        ],
        "summary": "Remove an SSH key",
        "x-cli": {
          "command": "keys rm",
          "args": [
            "id"
          ],
          "message": "Removed key {id}",
          "examples": [
            "fcm keys rm key_3f9c2a7e1b4d"
          ]
        },
        "responses": {
          "204": {
            "description": "Removed"
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/auth/config": {
      "get": {
        "operationId": "getAuthConfig",
        "tags": [
          "auth"
        ],
        "summary": "How to log in to this daemon",
        "security": [],
        "responses": {
          "200": {
            "description": "Login configuration",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/AuthConfig"
                }
              }
            }
          }
        }
      }
    },
    "/v1/auth/login": {
      "post": {
        "operationId": "startLogin",
        "tags": [
          "auth"
        ],
        "summary": "Start a browser login (OpenID Connect, authorization code + PKCE)",
        "x-rate-limit": "login",
        "description": "The CLI listens on a loopback port and sends its redirect URI and a PKCE\nchallenge. The daemon answers with the identity provider's authorization\nURL (the daemon runs its own PKCE, state and nonce with the provider).\nAfter the provider redirects back to the daemon, the daemon verifies the\nID token and redirects the browser to the CLI's loopback URI with a\none-time code — never a token. The CLI redeems the code with its PKCE\nverifier at POST /v1/auth/token.\n",
        "security": [],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/StartLoginRequest"
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "Open `authorizeUrl` in a browser",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/LoginStarted"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/auth/callback": {
      "get": {
        "operationId": "authCallback",
        "tags": [
          "auth"
        ],
        "summary": "Where the identity provider sends the browser back (not called directly)",
        "description": "Identity providers add response parameters of their own (Google: `scope`,\n`authuser`, `prompt`, `hd`); as OAuth 2.0 §4.1.2 asks, unknown ones are\nignored (`x-extra-query`). `iss` (RFC 9207), when sent, must be the issuer.\n",
        "security": [],
        "x-extra-query": true,
        "parameters": [
          {
            "name": "code",
            "in": "query",
            "required": false,
            "schema": {
              "type": "string",
              "maxLength": 4096
            }
          },
          {
            "name": "state",
            "in": "query",
            "required": false,
            "schema": {
              "type": "string",
              "maxLength": 512
            }
          },
          {
            "name": "iss",
            "in": "query",
            "required": false,
            "schema": {
              "type": "string",
              "maxLength": 512
            }
          },
          {
            "name": "error",
            "in": "query",
            "required": false,
            "schema": {
              "type": "string",
              "maxLength": 512
            }
          },
          {
            "name": "error_description",
            "in": "query",
            "required": false,
            "schema": {
              "type": "string",
              "maxLength": 2048
            }
          }
        ],
        "responses": {
          "302": {
            "description": "Redirect to the CLI's loopback URI with a one-time code (a dashboard login, startSessionLogin, to `/dashboard/` with the session cookie set)"
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/auth/token": {
      "post": {
        "operationId": "exchangeLoginCode",
        "tags": [
          "auth"
        ],
        "summary": "Redeem a one-time login code for an fcm token",
        "security": [],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/ExchangeCodeRequest"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "A new fcm token",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/TokenGrant"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/auth/device": {
      "post": {
        "operationId": "startDeviceLogin",
        "tags": [
          "auth"
        ],
        "summary": "Start a device login (for machines without a browser)",
        "x-rate-limit": "login",
        "security": [],
        "responses": {
          "201": {
            "description": "Show the user `userCode` and `verificationUri`",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/DeviceLogin"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/auth/device/token": {
      "post": {
        "operationId": "pollDeviceLogin",
        "tags": [
          "auth"
        ],
        "summary": "Poll a device login; `authorization_pending` until the user approves",
        "security": [],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "additionalProperties": false,
                "required": [
                  "deviceCode"
                ],
                "properties": {
                  "deviceCode": {
                    "type": "string",
                    "minLength": 10,
                    "maxLength": 200
                  }
                },
                "examples": [
                  {
                    "deviceCode": "dc_GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS"
                  }
                ]
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "A new fcm token",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/TokenGrant"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/auth/whoami": {
      "get": {
        "operationId": "whoami",
        "tags": [
          "auth"
        ],
        "summary": "Who the token belongs to",
        "x-cli": {
          "command": "whoami",
          "summary": "Show who you are logged in as",
          "examples": [
            "fcm whoami",
            "fcm whoami --json"
          ]
        },
        "responses": {
          "200": {
            "description": "The caller",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Whoami"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/auth/logout": {
      "post": {
        "operationId": "logout",
        "tags": [
          "auth"
        ],
        "summary": "Revoke the token used for this request",
        "responses": {
          "204": {
            "description": "Revoked"
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/auth/session": {
      "get": {
        "operationId": "getSession",
        "tags": [
          "auth"
        ],
        "summary": "The browser session (dashboard) — who it is, and the CSRF token its changes need",
        "description": "With the session cookie, `csrfToken` is the value every state-changing\nrequest of this session must send as `X-FCM-CSRF`; with a bearer token\n(no cookie involved) it is null.\n",
        "responses": {
          "200": {
            "description": "The session",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Session"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      },
      "post": {
        "operationId": "createSession",
        "tags": [
          "auth"
        ],
        "summary": "Start a browser session from a pasted token (the dashboard's sign-in without OIDC)",
        "description": "A user token buys a session token of its own (listed by `fcm tokens`,\nexpiring no later than the pasted one, revoked when the session ends);\nthe admin token is kept as it is. The answer sets the session cookie\n(HttpOnly, SameSite=Strict, `__Host-` and Secure over HTTPS) and never\ncontains the token. Refused from cross-site requests.\n",
        "x-rate-limit": "login",
        "security": [],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/CreateSessionRequest"
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "Signed in; the cookie is set",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Session"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      },
      "delete": {
        "operationId": "deleteSession",
        "tags": [
          "auth"
        ],
        "summary": "Sign out of the browser session — its token is revoked (not the admin token) and the cookie cleared",
        "responses": {
          "204": {
            "description": "Signed out"
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/auth/session/login": {
      "post": {
        "operationId": "startSessionLogin",
        "tags": [
          "auth"
        ],
        "summary": "Start a browser login for the dashboard (OpenID Connect through the daemon)",
        "description": "Like startLogin, but the browser itself is the client: the answer sets\na short-lived HttpOnly cookie binding this login to this browser and\ngives the identity provider's URL. After the provider sends the browser\nback to /v1/auth/callback, the daemon checks that cookie (a callback\nlink opened in another browser logs nobody in), sets the session cookie\nand redirects to `/dashboard/`. Refusals go to `/dashboard/#error=<code>`.\n",
        "x-rate-limit": "login",
        "security": [],
        "responses": {
          "201": {
            "description": "Open `authorizeUrl` in this browser",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/LoginStarted"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/users/{user}/quota": {
      "parameters": [
        {
          "name": "user",
          "in": "path",
          "required": true,
          "description": "A user id (usr_…), an email address, `admin` (the admin token), or `me`",
          "schema": {
            "type": "string",
            "minLength": 2,
            "maxLength": 254,
            "pattern": "^(me|admin|usr_[0-9a-f]{12}|[^\\s@/]+@[^\\s@/]+)$"
          }
        }
      ],
      "get": {
        "operationId": "getQuota",
        "tags": [
          "users"
        ],
        "summary": "A user's quota limits and usage",
        "description": "Limits (null: unlimited — admins are), what the user holds now, and\nthe overrides an admin set (the rest are the daemon's defaults,\nFCM_QUOTA_*). Users read their own (`me`); admins anyone's.\n",
        "x-cli": {
          "command": "quota",
          "args": [
            "user"
          ],
          "summary": "Show a user's quota (limit and usage)",
          "examples": [
            "fcm quota me",
            "fcm quota alice@example.com --json"
          ]
        },
        "responses": {
          "200": {
            "description": "The quota",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Quota"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      },
      "patch": {
        "operationId": "updateQuota",
        "tags": [
          "users"
        ],
        "summary": "Override a user's limits (admins only)",
        "x-admin-only": true,
        "description": "Sets the given limits for this user; `reset` removes overrides (back\nto the daemon's default). Lowering a limit below what the user holds\ntakes nothing away; it only refuses growth until usage is below it.\n",
        "x-cli": {
          "command": "quota set",
          "args": [
            "user"
          ],
          "summary": "Override a user's quota limits (admin)",
          "message": "Quota of {user} updated.",
          "examples": [
            "fcm quota set alice@example.com --vms 20 --memory-mib 20480",
            "fcm quota set usr_3f9c2a7e1b4d --reset vms,memoryMib"
          ]
        },
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/QuotaUpdate"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The quota after the change",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Quota"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/tokens": {
      "get": {
        "operationId": "listTokens",
        "tags": [
          "auth"
        ],
        "summary": "Your fcm tokens (never their values)",
        "x-cli": {
          "command": "tokens",
          "summary": "List your tokens",
          "columns": [
            "id",
            "description",
            {
              "field": "createdAt",
              "title": "AGE",
              "format": "age"
            },
            "expiresAt",
            "lastUsedAt"
          ],
          "examples": [
            "fcm tokens"
          ]
        },
        "responses": {
          "200": {
            "description": "Tokens",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/TokenList"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/tokens/{id}": {
      "parameters": [
        {
          "name": "id",
          "in": "path",
          "required": true,
          "schema": {
            "type": "string",
            "pattern": "^tok_[0-9a-f]{12}$"
          }
        }
      ],
      "delete": {
        "operationId": "revokeToken",
        "tags": [
          "auth"
        ],
        "summary": "Revoke one of your tokens",
        "x-cli": {
          "command": "tokens revoke",
          "args": [
            "id"
          ],
          "message": "Revoked {id}",
          "examples": [
            "fcm tokens revoke tok_3f9c2a7e1b4d"
          ]
        },
        "responses": {
          "204": {
            "description": "Revoked"
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/backup": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "get": {
        "operationId": "exportBackup",
        "tags": [
          "vms"
        ],
        "summary": "Export a VM as a portable, checksummed backup archive (streamed)",
        "description": "Streams an `application/x-fcm-backup` archive (POSIX tar): `manifest.json`\nfirst (format `fcm-backup`, `version` 2, the VM's settings, and for every\nmember its size and SHA-256), then `disk.qcow2` (the root disk, standalone:\nno backing file, compressed), with `withMemory` `memory.bin` (the machine's\nmemory + device state, saved at the instant the disk was flushed; the\nmanifest's `memory` names the hypervisor, size and image build it belongs\nto), `config.json` (the config vars: secrets — keep the file like a\npassword), `releases.json` (release history), and last `manifest.sha256`\n(the manifest's own SHA-256). A running VM is put to sleep first (its disk\nconsistent; the next request wakes it); a stopped or sleeping VM is\nexported as it is (`withMemory` needs a running or sleeping VM:\n`invalid_state` otherwise). The archive restores with importBackup on this\nhost or another; archives of version 1 (before memory) still import.\n",
        "parameters": [
          {
            "name": "withMemory",
            "in": "query",
            "required": false,
            "description": "Carry the VM's memory state too (`memory.bin`: the sleep save taken with the\ndisk, the guest's identity watch armed just before it; the VM disarms it when it\nwakes and keeps its identity). An import checks it like every member and, where it\ncan, resumes it with the new VM's own identity (see importBackup).\n",
            "schema": {
              "type": "boolean",
              "default": false
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The archive, streamed",
            "content": {
              "application/x-fcm-backup": {
                "schema": {
                  "type": "string",
                  "format": "binary"
                },
                "example": "(binary: a POSIX tar archive — manifest.json, disk.qcow2, config.json, releases.json, manifest.sha256)"
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/backups": {
      "post": {
        "operationId": "importBackup",
        "tags": [
          "vms"
        ],
        "summary": "Create a VM from a backup archive (streamed in)",
        "description": "The body is an archive from exportBackup, streamed. Every member is checked\nagainst the manifest (size, SHA-256, order; the manifest against\n`manifest.sha256`), and the disk (qcow2, no backing or data file, no larger\nthan the VM's disk) before anything is made: a truncated or corrupt archive\nis refused with `backup_invalid`, one over the size bound\n(`FCM_BACKUP_MAX_MIB`) with `payload_too_large`, and leaves nothing behind\n(no VM, disk, tap, route or repository). The new VM is yours, named `name`\n(default: the name in the archive), sized as the archive says (quotas and\nhost capacity apply as for a create), gets its own identity (id, address,\nMAC, URL) and boots from the imported disk with the archive's config vars\nand release history; the app deployed at export serves again. An archive\nwith `memory.bin` whose machine matches this host (hypervisor, vCPUs, MiB,\nimage build; saved with the identity watch armed; no swap disk, whose\npages the archive does not carry) is resumed instead: the app's processes\ngo on where they were, and the guest takes the new VM's identity from its\nown seed (address, MAC, hostname, machine-id, agent token, entropy — as a\nfork does); the answer comes once it answers as the new VM, `lastError`\nnull. Otherwise, or when the resume fails, the VM boots from the imported\ndisk and its `lastError` says why its memory was not resumed.\n",
        "parameters": [
          {
            "name": "name",
            "in": "query",
            "required": false,
            "description": "The new VM's name (default the exported VM's)",
            "schema": {
              "$ref": "#/components/schemas/VmName"
            }
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/x-fcm-backup": {
              "schema": {
                "type": "string",
                "format": "binary"
              },
              "example": "(binary: an archive written by exportBackup, e.g. fcm backup export > cosmic-nova.fcm-backup)"
            }
          }
        },
        "responses": {
          "201": {
            "description": "Imported; the VM is starting",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Vm"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    },
    "/v1/vms/{name}/fork": {
      "parameters": [
        {
          "$ref": "#/components/parameters/VmName"
        }
      ],
      "post": {
        "operationId": "forkVm",
        "tags": [
          "vms"
        ],
        "summary": "Fork a running VM into a new VM (live memory + disk, its own identity)",
        "description": "A new VM named `name` from the running VM's live state: its memory,\nprocesses and disks of one instant, captured as a snapshot is (the parent is\npaused while its root disk gets a copy-on-write snapshot, its swap a copy and\nits used memory is written; then it runs on — the `Fcm-Parent-Paused-Ms`\nheader says how long). The fork is restored from that capture and takes an\nidentity of its own exactly as a warm-pool clone does: id, address, MAC, host\nname, machine-id, fresh entropy for its kernel's random generator, its own URL\nand route, its own agent token. It gets its own copy of the app: config vars,\nreleases (same versions) and git repository (so `git push <its remote>\nfeature:main` deploys onto the fork only), the parent's size and idle sleep,\nand no custom domains. Its root disk is standalone (a copy of what the\nparent's disk held over the same read-only base image): deleting the parent\nleaves the fork running and restartable. Processes in the fork continue\nwhere the parent's were, so a user-space random generator seeded before the\nfork (e.g. Python's `random`) continues identically in both; the kernel's\n(`os.urandom`, `secrets`, /dev/urandom) differs.\nThe parent must be `running` (`invalid_state` otherwise; so is a VM whose\nimage predates forks); `name` in use is `name_taken`; quotas and host\ncapacity apply as for a create (`quota_exceeded`, `insufficient_capacity`);\na hypervisor that cannot take live snapshots answers `not_implemented`. A\nfailed fork leaves nothing behind (no VM, disk, tap, route, repository) and\nthe parent running. Answers once the fork's hypervisor runs (state\n`starting`); it is `running` when its guest answers as itself.\n",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/ForkVmRequest"
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "Forked; the fork is starting (taking on its identity)",
            "headers": {
              "Fcm-Parent-Paused-Ms": {
                "description": "How long the parent's guest was paused for the capture, in ms (QEMU's own clock)",
                "schema": {
                  "type": "number",
                  "examples": [
                    412.5
                  ]
                }
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Vm"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Problem"
          }
        }
      }
    }
  },
  "components": {
    "securitySchemes": {
      "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An fcm token (`fcm login`), or the admin token from `<state dir>/.token`."
      },
      "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "fcm_session",
        "description": "The dashboard's session cookie (`__Host-fcm_session` over HTTPS), set by\ncreateSession or the dashboard's OIDC login. Changes need `X-FCM-CSRF`.\n"
      }
    },
    "parameters": {
      "VmName": {
        "name": "name",
        "in": "path",
        "required": true,
        "description": "The VM's name",
        "schema": {
          "$ref": "#/components/schemas/VmName"
        }
      },
      "SnapshotName": {
        "name": "snapshot",
        "in": "path",
        "required": true,
        "description": "The snapshot's name",
        "schema": {
          "$ref": "#/components/schemas/SnapshotName"
        }
      }
    },
    "responses": {
      "Problem": {
        "description": "An error, as RFC 9457 problem details",
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      }
    },
    "schemas": {
      "VmName": {
        "type": "string",
        "description": "DNS label, lower-case letters, digits and single hyphens, starting with a letter.",
        "minLength": 1,
        "maxLength": 40,
        "pattern": "^[a-z]([a-z0-9-]*[a-z0-9])?$",
        "examples": [
          "cosmic-nova"
        ]
      },
      "VmState": {
        "type": "string",
        "enum": [
          "creating",
          "starting",
          "running",
          "sleeping",
          "stopping",
          "stopped",
          "failed",
          "deleting"
        ],
        "description": "`creating` — resources being allocated; `starting` — hypervisor running, guest booting\n(or waking); `running` — the guest agent answered; `sleeping` — memory saved to disk, no\nprocess (the next request to its URL, or a start, wakes it); `stopping`; `stopped`;\n`failed` — the guest did not boot or the hypervisor died (see `lastError`); `deleting`.\n"
      },
      "CreateVmRequest": {
        "examples": [
          {
            "name": "cosmic-nova",
            "vcpus": 1,
            "memoryMib": 1024,
            "diskMib": 2048,
            "domains": [
              "www.example.com"
            ],
            "sleepAfter": "15m"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "properties": {
          "name": {
            "$ref": "#/components/schemas/VmName"
          },
          "vcpus": {
            "type": "integer",
            "minimum": 1,
            "maximum": 8,
            "default": 1,
            "description": "Virtual CPUs"
          },
          "memoryMib": {
            "type": "integer",
            "minimum": 128,
            "maximum": 16384,
            "default": 1024,
            "description": "Guest RAM in MiB"
          },
          "diskMib": {
            "type": "integer",
            "minimum": 1024,
            "maximum": 262144,
            "default": 2048,
            "description": "Root disk size in MiB (sparse; only written blocks use host disk)"
          },
          "swapMib": {
            "type": "integer",
            "minimum": 0,
            "maximum": 8192,
            "default": 512,
            "description": "Swap disk size in MiB (0 for none)"
          },
          "port": {
            "type": "integer",
            "minimum": 1,
            "maximum": 65535,
            "default": 8000,
            "description": "The guest port that receives the VM's HTTP traffic"
          },
          "image": {
            "type": "string",
            "default": "base",
            "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$",
            "description": "Base image name"
          },
          "domains": {
            "$ref": "#/components/schemas/DomainList"
          },
          "sleepAfter": {
            "$ref": "#/components/schemas/SleepAfter"
          },
          "host": {
            "type": "string",
            "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
            "description": "Pin the VM to this host of the cluster (an id from fcm cluster hosts). Without it the cluster places it: the up host with room for it (memory, vCPUs, disk, an IP) that has the most memory left."
          }
        }
      },
      "UpdateVmRequest": {
        "examples": [
          {
            "memoryMib": 2048,
            "sleepAfter": "off"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "minProperties": 1,
        "properties": {
          "vcpus": {
            "type": "integer",
            "minimum": 1,
            "maximum": 8
          },
          "memoryMib": {
            "type": "integer",
            "minimum": 128,
            "maximum": 16384
          },
          "domains": {
            "$ref": "#/components/schemas/DomainList"
          },
          "sleepAfter": {
            "$ref": "#/components/schemas/SleepAfter"
          }
        }
      },
      "SleepAfter": {
        "type": "string",
        "pattern": "^(off|[1-9][0-9]{0,5}[smh])$",
        "description": "Put the VM to sleep (see sleepVm) once it has been idle this long — no\nrequest through its URL or custom domains, no console attached, no deploy\nrunning: a number with `s`, `m` or `h` (`15m`, `2h`), at least 10 s; `off`\n(the default) never. The next request wakes it.\n",
        "examples": [
          "15m",
          "off"
        ]
      },
      "Hostname": {
        "type": "string",
        "description": "A fully qualified DNS name (lower case, no wildcard, no trailing dot, not an IP address).",
        "minLength": 4,
        "maxLength": 253,
        "pattern": "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$",
        "examples": [
          "www.example.com"
        ]
      },
      "CustomDomain": {
        "examples": [
          {
            "domain": "www.example.com",
            "status": "pending",
            "recordType": "TXT",
            "recordName": "_fcm-challenge.www.example.com",
            "recordValue": "fcm-verify=2Jq0x9cV4mYtR7aK1sLbN8eW"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "domain",
          "status",
          "recordType",
          "recordName",
          "recordValue"
        ],
        "properties": {
          "domain": {
            "type": "string"
          },
          "status": {
            "type": "string",
            "enum": [
              "pending",
              "verified"
            ],
            "description": "`pending`: no route and no certificate until verified"
          },
          "recordType": {
            "type": "string",
            "enum": [
              "TXT"
            ]
          },
          "recordName": {
            "type": "string",
            "description": "Where the record goes: _fcm-challenge.<domain>"
          },
          "recordValue": {
            "type": "string",
            "description": "The token: fixed for this user and domain"
          }
        }
      },
      "CustomDomainList": {
        "examples": [
          {
            "domains": [
              {
                "domain": "www.example.com",
                "status": "pending",
                "recordType": "TXT",
                "recordName": "_fcm-challenge.www.example.com",
                "recordValue": "fcm-verify=2Jq0x9cV4mYtR7aK1sLbN8eW"
              }
            ]
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "domains"
        ],
        "properties": {
          "domains": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/CustomDomain"
            }
          }
        }
      },
      "DomainList": {
        "type": "array",
        "description": "Extra custom domains for the VM (besides its own URL). New ones are pending until\nverified with a DNS TXT record (listDomains shows it); point their DNS at the server.\nThe server's own host name and the VM base domain cannot be claimed.\n",
        "maxItems": 20,
        "uniqueItems": true,
        "items": {
          "$ref": "#/components/schemas/Hostname"
        }
      },
      "StopVmRequest": {
        "examples": [
          {
            "timeoutMs": 10000,
            "force": false
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "properties": {
          "timeoutMs": {
            "type": "integer",
            "minimum": 0,
            "maximum": 600000,
            "default": 10000,
            "description": "How long to wait for a graceful shutdown before killing the VM"
          },
          "force": {
            "type": "boolean",
            "default": false,
            "description": "Skip the graceful shutdown"
          }
        }
      },
      "Vm": {
        "examples": [
          {
            "id": "vm_3f9c2a7e1b4d",
            "name": "cosmic-nova",
            "state": "running",
            "vcpus": 1,
            "memoryMib": 1024,
            "diskMib": 2048,
            "swapMib": 512,
            "port": 8000,
            "image": "base",
            "ip": "10.77.0.12",
            "mac": "02:fc:00:4d:00:0c",
            "url": "https://cosmic-nova.apps.example.com",
            "domains": [
              "www.example.com"
            ],
            "pendingDomains": [],
            "gitUrl": "root@apps.example.com:cosmic-nova.git",
            "gitHttpUrl": "https://apps.example.com/git/cosmic-nova.git",
            "hypervisor": "firecracker",
            "sleepAfter": "off",
            "host": "fcm-a",
            "stateReason": null,
            "lastError": null,
            "createdAt": "2026-12-06T12:00:00Z",
            "updatedAt": "2026-12-06T12:00:07Z"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "id",
          "name",
          "state",
          "vcpus",
          "memoryMib",
          "diskMib",
          "swapMib",
          "port",
          "image",
          "ip",
          "mac",
          "url",
          "domains",
          "pendingDomains",
          "gitUrl",
          "gitHttpUrl",
          "hypervisor",
          "sleepAfter",
          "host",
          "createdAt",
          "updatedAt"
        ],
        "properties": {
          "id": {
            "type": "string",
            "examples": [
              "vm_3f9c2a7e1b4d"
            ]
          },
          "name": {
            "$ref": "#/components/schemas/VmName"
          },
          "state": {
            "description": "The VM's state, or `unreachable` when the host it runs on has let its lease lapse\n(crashed, cut off from the database, or stopped): the VM is neither moved, restarted\nnor deleted meanwhile; `stateReason` says since when. Once the host is back it reports\nthe VM's real state again.\n",
            "anyOf": [
              {
                "$ref": "#/components/schemas/VmState"
              },
              {
                "type": "string",
                "const": "unreachable"
              }
            ]
          },
          "stateReason": {
            "type": [
              "string",
              "null"
            ],
            "description": "Why the state is `unreachable` (which host, since when); null otherwise"
          },
          "host": {
            "type": "string",
            "description": "The id of the host whose hypervisor runs the VM (FCM_HOST_ID; see listHosts)"
          },
          "vcpus": {
            "type": "integer"
          },
          "memoryMib": {
            "type": "integer"
          },
          "diskMib": {
            "type": "integer"
          },
          "swapMib": {
            "type": "integer"
          },
          "port": {
            "type": "integer"
          },
          "image": {
            "type": "string"
          },
          "ip": {
            "type": "string",
            "format": "ipv4"
          },
          "mac": {
            "type": "string",
            "pattern": "^([0-9a-f]{2}:){5}[0-9a-f]{2}$"
          },
          "url": {
            "type": "string",
            "format": "uri",
            "description": "The VM's public HTTPS URL"
          },
          "domains": {
            "type": "array",
            "items": {
              "type": "string"
            },
            "description": "Custom domains claimed for the VM (routed once verified)"
          },
          "pendingDomains": {
            "type": "array",
            "items": {
              "type": "string"
            },
            "description": "The custom domains not verified yet (no route, no certificate); see listDomains"
          },
          "hypervisor": {
            "type": "string",
            "enum": [
              "qemu",
              "firecracker"
            ]
          },
          "gitUrl": {
            "type": "string",
            "description": "SSH git remote: root@<server>:<name>.git"
          },
          "gitHttpUrl": {
            "type": "string",
            "description": "HTTPS git remote (token auth)"
          },
          "sleepAfter": {
            "type": "string",
            "description": "Idle time after which it sleeps (`15m`), or `off`"
          },
          "lastError": {
            "type": [
              "string",
              "null"
            ],
            "description": "Why the VM is `failed`, if it is; after a wake that had to cold-boot, why its saved state could not be restored"
          },
          "createdAt": {
            "type": "string",
            "format": "date-time"
          },
          "updatedAt": {
            "type": "string",
            "format": "date-time"
          }
        }
      },
      "ForkVmRequest": {
        "examples": [
          {
            "name": "cosmic-nova-pr-12"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "name"
        ],
        "properties": {
          "name": {
            "$ref": "#/components/schemas/VmName"
          }
        }
      },
      "Host": {
        "type": "object",
        "additionalProperties": false,
        "required": [
          "id",
          "state",
          "publicIp",
          "apiUrl",
          "subnet",
          "vcpus",
          "memoryMib",
          "diskMib",
          "vms",
          "usedVcpus",
          "usedMemoryMib",
          "usedDiskMib",
          "startedAt",
          "renewedAt",
          "leaseExpiresAt"
        ],
        "properties": {
          "id": {
            "type": "string",
            "description": "FCM_HOST_ID",
            "examples": [
              "fcm-a"
            ]
          },
          "state": {
            "type": "string",
            "enum": [
              "up",
              "unreachable"
            ],
            "description": "`up` while its lease runs; `unreachable` once it lapsed (its VMs are left as they are)"
          },
          "publicIp": {
            "type": "string",
            "format": "ipv4",
            "description": "The address its VMs' URLs embed"
          },
          "apiUrl": {
            "type": "string",
            "description": "Its API"
          },
          "subnet": {
            "type": "string",
            "description": "Its VM subnet (FCM_SUBNET), e.g. 172.16.0.0/24"
          },
          "vcpus": {
            "type": "integer",
            "description": "vCPUs it may commit (host CPUs × FCM_CPU_OVERCOMMIT)"
          },
          "memoryMib": {
            "type": "integer",
            "description": "Guest memory it may commit, MiB (admission's capacity)"
          },
          "diskMib": {
            "type": "integer",
            "description": "Disk in its state directory, MiB"
          },
          "vms": {
            "type": "integer",
            "description": "VMs on it"
          },
          "usedVcpus": {
            "type": "integer"
          },
          "usedMemoryMib": {
            "type": "integer"
          },
          "usedDiskMib": {
            "type": "integer",
            "description": "Sum of its VMs' disk sizes (sparse; an upper bound)"
          },
          "startedAt": {
            "type": "string",
            "format": "date-time",
            "description": "When its daemon registered"
          },
          "renewedAt": {
            "type": "string",
            "format": "date-time",
            "description": "Its last lease renewal"
          },
          "leaseExpiresAt": {
            "type": "string",
            "format": "date-time"
          }
        }
      },
      "HostList": {
        "examples": [
          {
            "hosts": [
              {
                "id": "fcm-a",
                "state": "up",
                "publicIp": "64.34.93.45",
                "apiUrl": "http://10.0.0.5:7777",
                "subnet": "172.16.0.0/24",
                "vcpus": 16,
                "memoryMib": 23552,
                "diskMib": 409600,
                "vms": 3,
                "usedVcpus": 3,
                "usedMemoryMib": 3072,
                "usedDiskMib": 6144,
                "startedAt": "2026-12-06T11:00:00Z",
                "renewedAt": "2026-12-06T12:00:05Z",
                "leaseExpiresAt": "2026-12-06T12:00:20Z"
              }
            ]
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "hosts"
        ],
        "properties": {
          "hosts": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Host"
            }
          }
        }
      },
      "VmList": {
        "examples": [
          {
            "vms": [
              {
                "id": "vm_3f9c2a7e1b4d",
                "name": "cosmic-nova",
                "state": "running",
                "vcpus": 1,
                "memoryMib": 1024,
                "diskMib": 2048,
                "swapMib": 512,
                "port": 8000,
                "image": "base",
                "ip": "10.77.0.12",
                "mac": "02:fc:00:4d:00:0c",
                "url": "https://cosmic-nova.apps.example.com",
                "domains": [
                  "www.example.com"
                ],
                "pendingDomains": [],
                "gitUrl": "root@apps.example.com:cosmic-nova.git",
                "gitHttpUrl": "https://apps.example.com/git/cosmic-nova.git",
                "hypervisor": "firecracker",
                "sleepAfter": "off",
                "host": "fcm-a",
                "stateReason": null,
                "lastError": null,
                "createdAt": "2026-12-06T12:00:00Z",
                "updatedAt": "2026-12-06T12:00:07Z"
              }
            ]
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "vms"
        ],
        "properties": {
          "vms": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Vm"
            }
          }
        }
      },
      "Health": {
        "examples": [
          {
            "status": "ok",
            "version": "0.1.0",
            "hypervisor": "firecracker",
            "accel": "kvm",
            "confinement": {
              "user": "per-vm",
              "seccomp": true,
              "mountNamespace": true,
              "jailer": true,
              "cgroups": {
                "version": "v2",
                "limits": [
                  "cpu",
                  "memory",
                  "pids"
                ],
                "detail": null
              }
            },
            "vms": {
              "total": 3,
              "running": 2,
              "sleeping": 1
            },
            "checks": {
              "caddy": {
                "ok": true
              },
              "disk": {
                "ok": true,
                "detail": "41.2 GiB free of 100 GiB"
              }
            }
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "status",
          "version",
          "hypervisor",
          "accel",
          "vms"
        ],
        "properties": {
          "status": {
            "type": "string",
            "enum": [
              "ok",
              "degraded"
            ]
          },
          "version": {
            "type": "string"
          },
          "hypervisor": {
            "type": "string",
            "enum": [
              "qemu",
              "firecracker"
            ]
          },
          "accel": {
            "type": "string",
            "enum": [
              "kvm",
              "tcg"
            ],
            "description": "How guests are executed"
          },
          "confinement": {
            "type": "object",
            "additionalProperties": false,
            "description": "What confines the hypervisor processes, so that an escape from a\nguest's device model is not the host (see SECURITY.md).\n",
            "required": [
              "user",
              "seccomp",
              "mountNamespace",
              "jailer",
              "cgroups"
            ],
            "properties": {
              "user": {
                "type": "string",
                "enum": [
                  "per-vm",
                  "shared",
                  "root"
                ],
                "description": "per-vm: every VM's hypervisor runs as a uid of its own; shared: one unprivileged uid for all; root: not confined"
              },
              "seccomp": {
                "type": "boolean",
                "description": "A seccomp filter (QEMU -sandbox, or Firecracker's own) limits the system calls"
              },
              "mountNamespace": {
                "type": "boolean",
                "description": "The hypervisor sees only its own files (private mount namespace / chroot)"
              },
              "jailer": {
                "type": "boolean",
                "description": "Firecracker runs through its jailer"
              },
              "cgroups": {
                "type": "object",
                "additionalProperties": false,
                "required": [
                  "version",
                  "limits",
                  "detail"
                ],
                "properties": {
                  "version": {
                    "type": [
                      "string",
                      "null"
                    ],
                    "enum": [
                      "v1",
                      "v2",
                      null
                    ],
                    "description": "The cgroup hierarchy used for per-VM limits (null = none)"
                  },
                  "limits": {
                    "type": "array",
                    "items": {
                      "type": "string",
                      "enum": [
                        "cpu",
                        "memory",
                        "pids"
                      ]
                    },
                    "description": "Limits applied to every VM: cpu = its vCPUs' time, memory = RAM + a bounded overhead, pids"
                  },
                  "detail": {
                    "type": [
                      "string",
                      "null"
                    ],
                    "description": "Why a limit is not applied, if one is not"
                  }
                }
              }
            }
          },
          "vms": {
            "type": "object",
            "additionalProperties": false,
            "required": [
              "total",
              "running",
              "sleeping"
            ],
            "properties": {
              "total": {
                "type": "integer"
              },
              "running": {
                "type": "integer"
              },
              "sleeping": {
                "type": "integer"
              }
            }
          },
          "checks": {
            "type": "object",
            "description": "Dependency name → status",
            "additionalProperties": {
              "type": "object",
              "additionalProperties": false,
              "required": [
                "ok"
              ],
              "properties": {
                "ok": {
                  "type": "boolean"
                },
                "detail": {
                  "type": "string"
                }
              }
            }
          }
        }
      },
      "ConsoleTicket": {
        "examples": [
          {
            "ticket": "fct_Qm9yZ2V0LW1lLW5vdC0xMjM0NTY3ODkw",
            "expiresAt": "2026-12-06T12:01:00Z",
            "webUrl": "/console/cosmic-nova#ticket=fct_Qm9yZ2V0LW1lLW5vdC0xMjM0NTY3ODkw"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "ticket",
          "expiresAt",
          "webUrl"
        ],
        "properties": {
          "ticket": {
            "type": "string"
          },
          "expiresAt": {
            "type": "string",
            "format": "date-time"
          },
          "webUrl": {
            "type": "string",
            "description": "The web console page for this ticket (path on the daemon)"
          }
        }
      },
      "Release": {
        "examples": [
          {
            "version": 3,
            "status": "succeeded",
            "kind": "deploy",
            "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "description": "Deploy 9fceb02",
            "buildpack": "python",
            "processes": {
              "web": "gunicorn app:app",
              "worker": "python3 worker.py"
            },
            "rollbackOf": null,
            "createdAt": "2026-12-06T12:00:00Z",
            "finishedAt": "2026-12-06T12:00:21Z",
            "log": "-----> Detected Python (requirements.txt)\n-----> Using the cached virtualenv (requirements.txt unchanged)\n-----> Procfile declares types -> web, worker\n"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "version",
          "status",
          "kind",
          "description",
          "createdAt"
        ],
        "properties": {
          "version": {
            "type": "integer",
            "description": "1, 2, 3… per VM"
          },
          "status": {
            "type": "string",
            "enum": [
              "pending",
              "building",
              "succeeded",
              "failed",
              "superseded"
            ]
          },
          "kind": {
            "type": "string",
            "enum": [
              "deploy",
              "rollback",
              "config"
            ]
          },
          "commit": {
            "type": [
              "string",
              "null"
            ],
            "description": "Git commit SHA"
          },
          "description": {
            "type": "string"
          },
          "buildpack": {
            "type": [
              "string",
              "null"
            ],
            "enum": [
              "python",
              "ruby",
              "node",
              "static",
              "none",
              null
            ]
          },
          "processes": {
            "type": "object",
            "description": "Procfile process type → command",
            "additionalProperties": {
              "type": "string"
            }
          },
          "rollbackOf": {
            "type": [
              "integer",
              "null"
            ]
          },
          "log": {
            "type": "string",
            "description": "Build output (getRelease only)"
          },
          "createdAt": {
            "type": "string",
            "format": "date-time"
          },
          "finishedAt": {
            "type": [
              "string",
              "null"
            ],
            "format": "date-time"
          }
        }
      },
      "SnapshotName": {
        "type": "string",
        "description": "Lower-case letters, digits and hyphens, starting with a letter or digit (unique per VM).",
        "minLength": 1,
        "maxLength": 40,
        "pattern": "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
        "examples": [
          "before-migration"
        ]
      },
      "Snapshot": {
        "examples": [
          {
            "snapshot": "before-migration",
            "vm": "cosmic-nova",
            "createdAt": "2026-12-06T12:00:00Z",
            "pausedMs": 412.5,
            "stateBytes": 187695104,
            "sizeBytes": 188743680
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "snapshot",
          "vm",
          "createdAt",
          "pausedMs",
          "stateBytes",
          "sizeBytes"
        ],
        "properties": {
          "snapshot": {
            "$ref": "#/components/schemas/SnapshotName"
          },
          "vm": {
            "$ref": "#/components/schemas/VmName"
          },
          "createdAt": {
            "type": "string",
            "format": "date-time"
          },
          "pausedMs": {
            "type": "number",
            "description": "How long the guest was paused while the snapshot was taken (milliseconds, as QEMU measured it)"
          },
          "stateBytes": {
            "type": "integer",
            "description": "Bytes of the saved memory and device state"
          },
          "sizeBytes": {
            "type": "integer",
            "description": "Disk the snapshot takes besides the VM's own disk (memory state and swap copy; the disk snapshot shares unchanged blocks with the VM)"
          }
        }
      },
      "SnapshotList": {
        "examples": [
          {
            "snapshots": [
              {
                "snapshot": "before-migration",
                "vm": "cosmic-nova",
                "createdAt": "2026-12-06T12:00:00Z",
                "pausedMs": 412.5,
                "stateBytes": 187695104,
                "sizeBytes": 188743680
              }
            ]
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "snapshots"
        ],
        "properties": {
          "snapshots": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Snapshot"
            }
          }
        }
      },
      "ReleaseList": {
        "examples": [
          {
            "releases": [
              {
                "version": 3,
                "status": "succeeded",
                "kind": "deploy",
                "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
                "description": "Deploy 9fceb02",
                "buildpack": "python",
                "processes": {
                  "web": "gunicorn app:app",
                  "worker": "python3 worker.py"
                },
                "rollbackOf": null,
                "createdAt": "2026-12-06T12:00:00Z",
                "finishedAt": "2026-12-06T12:00:21Z"
              }
            ]
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "releases"
        ],
        "properties": {
          "releases": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Release"
            }
          }
        }
      },
      "EnvKey": {
        "type": "string",
        "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$"
      },
      "EnvVars": {
        "examples": [
          {
            "vars": {
              "DATABASE_URL": "postgres://app@db.internal/app",
              "GREETING": "hello"
            },
            "release": 4
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "vars"
        ],
        "properties": {
          "vars": {
            "type": "object",
            "propertyNames": {
              "$ref": "#/components/schemas/EnvKey"
            },
            "additionalProperties": {
              "type": "string",
              "maxLength": 32768
            }
          },
          "release": {
            "type": [
              "integer",
              "null"
            ],
            "description": "Release recorded for this change"
          }
        }
      },
      "EnvUpdate": {
        "examples": [
          {
            "set": {
              "GREETING": "hello"
            },
            "unset": [
              "OLD_FLAG"
            ]
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "minProperties": 1,
        "properties": {
          "set": {
            "type": "object",
            "maxProperties": 200,
            "propertyNames": {
              "$ref": "#/components/schemas/EnvKey"
            },
            "additionalProperties": {
              "type": "string",
              "maxLength": 32768
            }
          },
          "unset": {
            "type": "array",
            "maxItems": 200,
            "items": {
              "$ref": "#/components/schemas/EnvKey"
            }
          }
        }
      },
      "SshKey": {
        "examples": [
          {
            "id": "key_1c9e4b7a20d3",
            "name": "laptop",
            "type": "ssh-ed25519",
            "fingerprint": "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
            "createdAt": "2026-12-06T12:00:00Z"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "id",
          "name",
          "fingerprint",
          "type",
          "createdAt"
        ],
        "properties": {
          "id": {
            "type": "string"
          },
          "name": {
            "type": "string"
          },
          "type": {
            "type": "string",
            "examples": [
              "ssh-ed25519"
            ]
          },
          "fingerprint": {
            "type": "string",
            "examples": [
              "SHA256:…"
            ]
          },
          "createdAt": {
            "type": "string",
            "format": "date-time"
          }
        }
      },
      "SshKeyList": {
        "examples": [
          {
            "keys": [
              {
                "id": "key_1c9e4b7a20d3",
                "name": "laptop",
                "type": "ssh-ed25519",
                "fingerprint": "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
                "createdAt": "2026-12-06T12:00:00Z"
              }
            ]
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "keys"
        ],
        "properties": {
          "keys": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/SshKey"
            }
          }
        }
      },
      "AddKeyRequest": {
        "examples": [
          {
            "publicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHzRzH1KAjXeOy+OYJ98qhEOrJwV6QaeaukUQq+FLyIX alice@laptop",
            "name": "laptop",
            "challenge": "fcm-key-proof:q0yBvW8cTjA1pX6sQk2rN5uHd3fLm9ZgE7aYwVtCiJo",
            "signature": "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgfNHMfUoCNd47L45gn3yqEQ6snB\nXpBp5rqRRCr4UvIhcAAAANZmNtLWtleS1wcm9vZgAAAAAAAAAGc2hhNTEyAAAAUwAAAAtz\nc2gtZWQyNTUxOQAAAEDNzytrbTf1cYsIPfzJarKCPgRpO+AiYX/mwcUKPtvAleLwxpSS82\nybB5NtLXfafvBZntE/vYl4v0EUEwnFUnEN\n-----END SSH SIGNATURE-----\n"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "publicKey",
          "challenge",
          "signature"
        ],
        "properties": {
          "publicKey": {
            "type": "string",
            "minLength": 20,
            "maxLength": 16384,
            "description": "An OpenSSH public key line (`ssh-ed25519 AAAA… comment`)"
          },
          "name": {
            "type": "string",
            "maxLength": 100,
            "pattern": "^[^\\n\\r]*$"
          },
          "challenge": {
            "type": "string",
            "minLength": 20,
            "maxLength": 200,
            "description": "The `challenge` from POST /v1/keys/challenges",
            "examples": [
              "fcm-key-proof:q0yBvW8cTjA1pX6sQk2rN5uHd3fLm9ZgE7aYwVtCiJo"
            ]
          },
          "signature": {
            "type": "string",
            "minLength": 100,
            "maxLength": 16384,
            "pattern": "^-----BEGIN SSH SIGNATURE-----",
            "description": "`ssh-keygen -Y sign -n fcm-key-proof` of the challenge with this key (armored)",
            "examples": [
              "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgfNHMfUoCNd47L45gn3yqEQ6snB\nXpBp5rqRRCr4UvIhcAAAANZmNtLWtleS1wcm9vZgAAAAAAAAAGc2hhNTEyAAAAUwAAAAtz\nc2gtZWQyNTUxOQAAAEDNzytrbTf1cYsIPfzJarKCPgRpO+AiYX/mwcUKPtvAleLwxpSS82\nybB5NtLXfafvBZntE/vYl4v0EUEwnFUnEN\n-----END SSH SIGNATURE-----\n"
            ]
          }
        }
      },
      "KeyChallenge": {
        "examples": [
          {
            "challenge": "fcm-key-proof:q0yBvW8cTjA1pX6sQk2rN5uHd3fLm9ZgE7aYwVtCiJo",
            "namespace": "fcm-key-proof",
            "fingerprint": "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
            "expiresAt": "2026-12-06T12:05:00Z"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "challenge",
          "namespace",
          "fingerprint",
          "expiresAt"
        ],
        "properties": {
          "challenge": {
            "type": "string",
            "description": "The exact text to sign"
          },
          "namespace": {
            "type": "string",
            "enum": [
              "fcm-key-proof"
            ],
            "description": "ssh-keygen -Y sign -n <namespace>"
          },
          "fingerprint": {
            "type": "string",
            "description": "The key the challenge is for"
          },
          "expiresAt": {
            "type": "string",
            "format": "date-time"
          }
        }
      },
      "AuthConfig": {
        "examples": [
          {
            "enabled": true,
            "issuer": "https://accounts.example.com",
            "browser": true,
            "device": true
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "enabled",
          "browser",
          "device"
        ],
        "properties": {
          "enabled": {
            "type": "boolean",
            "description": "false: only the admin token works"
          },
          "issuer": {
            "type": [
              "string",
              "null"
            ]
          },
          "browser": {
            "type": "boolean"
          },
          "device": {
            "type": "boolean"
          }
        }
      },
      "StartLoginRequest": {
        "examples": [
          {
            "redirectUri": "http://127.0.0.1:49152/callback",
            "state": "b3BhcXVlLXN0YXRlLTEyMzQ",
            "codeChallenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "codeChallengeMethod": "S256"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "redirectUri",
          "state",
          "codeChallenge"
        ],
        "properties": {
          "redirectUri": {
            "type": "string",
            "maxLength": 200,
            "pattern": "^http://127\\.0\\.0\\.1:[0-9]{1,5}/[A-Za-z0-9/_-]*$",
            "description": "The CLI's loopback listener"
          },
          "state": {
            "type": "string",
            "minLength": 16,
            "maxLength": 128
          },
          "codeChallenge": {
            "type": "string",
            "minLength": 43,
            "maxLength": 128,
            "pattern": "^[A-Za-z0-9_-]+$"
          },
          "codeChallengeMethod": {
            "type": "string",
            "enum": [
              "S256"
            ],
            "default": "S256"
          }
        }
      },
      "LoginStarted": {
        "examples": [
          {
            "authorizeUrl": "https://accounts.example.com/authorize?client_id=fcm&response_type=code&state=b3BhcXVlLXN0YXRlLTEyMzQ",
            "expiresAt": "2026-12-06T12:10:00Z"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "authorizeUrl",
          "expiresAt"
        ],
        "properties": {
          "authorizeUrl": {
            "type": "string"
          },
          "expiresAt": {
            "type": "string",
            "format": "date-time"
          }
        }
      },
      "ExchangeCodeRequest": {
        "examples": [
          {
            "code": "lc_4e1f0b9a7d2c8e6f",
            "codeVerifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "code",
          "codeVerifier"
        ],
        "properties": {
          "code": {
            "type": "string",
            "minLength": 10,
            "maxLength": 200
          },
          "codeVerifier": {
            "type": "string",
            "minLength": 43,
            "maxLength": 128,
            "pattern": "^[A-Za-z0-9._~-]+$"
          }
        }
      },
      "DeviceLogin": {
        "examples": [
          {
            "deviceCode": "dc_GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS",
            "userCode": "WDJB-MJHT",
            "verificationUri": "https://accounts.example.com/device",
            "verificationUriComplete": "https://accounts.example.com/device?user_code=WDJB-MJHT",
            "interval": 5,
            "expiresIn": 600
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "deviceCode",
          "userCode",
          "verificationUri",
          "interval",
          "expiresIn"
        ],
        "properties": {
          "deviceCode": {
            "type": "string"
          },
          "userCode": {
            "type": "string"
          },
          "verificationUri": {
            "type": "string"
          },
          "verificationUriComplete": {
            "type": [
              "string",
              "null"
            ]
          },
          "interval": {
            "type": "integer",
            "description": "Seconds between polls"
          },
          "expiresIn": {
            "type": "integer"
          }
        }
      },
      "User": {
        "examples": [
          {
            "id": "usr_8d41c07a2e95",
            "email": "alice@example.com",
            "name": "Alice",
            "admin": false
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "id",
          "email",
          "name",
          "admin"
        ],
        "properties": {
          "id": {
            "type": "string"
          },
          "email": {
            "type": [
              "string",
              "null"
            ]
          },
          "name": {
            "type": [
              "string",
              "null"
            ]
          },
          "admin": {
            "type": "boolean"
          }
        }
      },
      "TokenInfo": {
        "examples": [
          {
            "id": "tok_5b2e9f30c1a7",
            "kind": "user",
            "description": "fcm login on laptop",
            "createdAt": "2026-12-06T12:00:00Z",
            "expiresAt": "2027-01-05T12:00:00Z",
            "lastUsedAt": "2026-12-06T12:30:00Z"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "id",
          "kind",
          "createdAt"
        ],
        "properties": {
          "id": {
            "type": "string"
          },
          "kind": {
            "type": "string",
            "enum": [
              "admin",
              "user"
            ]
          },
          "description": {
            "type": [
              "string",
              "null"
            ]
          },
          "createdAt": {
            "type": "string",
            "format": "date-time"
          },
          "expiresAt": {
            "type": [
              "string",
              "null"
            ],
            "format": "date-time"
          },
          "lastUsedAt": {
            "type": [
              "string",
              "null"
            ],
            "format": "date-time"
          }
        }
      },
      "TokenList": {
        "examples": [
          {
            "tokens": [
              {
                "id": "tok_5b2e9f30c1a7",
                "kind": "user",
                "description": "fcm login on laptop",
                "createdAt": "2026-12-06T12:00:00Z",
                "expiresAt": "2027-01-05T12:00:00Z",
                "lastUsedAt": "2026-12-06T12:30:00Z"
              }
            ]
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "tokens"
        ],
        "properties": {
          "tokens": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/TokenInfo"
            }
          }
        }
      },
      "TokenGrant": {
        "examples": [
          {
            "token": "fcm_7Hq2Lx9Vd4Nk0Pw3Zr8Tb6Yc1Mf5Sg2JaQe3Wn6Ux0Po",
            "expiresAt": "2027-01-05T12:00:00Z",
            "user": {
              "id": "usr_8d41c07a2e95",
              "email": "alice@example.com",
              "name": "Alice",
              "admin": false
            }
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "token",
          "expiresAt",
          "user"
        ],
        "properties": {
          "token": {
            "type": "string",
            "description": "Shown once; store it in ~/.fcm-token (0600)"
          },
          "expiresAt": {
            "type": [
              "string",
              "null"
            ],
            "format": "date-time"
          },
          "user": {
            "$ref": "#/components/schemas/User"
          }
        }
      },
      "Session": {
        "examples": [
          {
            "user": {
              "id": "usr_8d41c07a2e95",
              "email": "alice@example.com",
              "name": "Alice",
              "admin": false
            },
            "csrfToken": "k3Vq9Xw1Lm7Tz0Rb5Nc2Yd8Hf4Gs6Ja",
            "expiresAt": "2026-12-07T12:00:00Z"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "user",
          "csrfToken",
          "expiresAt"
        ],
        "properties": {
          "user": {
            "$ref": "#/components/schemas/User"
          },
          "csrfToken": {
            "type": [
              "string",
              "null"
            ],
            "description": "Send as `X-FCM-CSRF` with every cookie-authenticated change; null when not authenticated by the cookie"
          },
          "expiresAt": {
            "type": [
              "string",
              "null"
            ],
            "format": "date-time"
          }
        }
      },
      "CreateSessionRequest": {
        "examples": [
          {
            "token": "fcm_7Hq2Lx9Vd4Nk0Pw3Zr8Tb6Yc1Mf5Sg2JaQe3Wn6Ux0Po"
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "token"
        ],
        "properties": {
          "token": {
            "type": "string",
            "minLength": 10,
            "maxLength": 200,
            "description": "An fcm token (fcm login, or the admin token)"
          }
        }
      },
      "Whoami": {
        "examples": [
          {
            "user": {
              "id": "usr_8d41c07a2e95",
              "email": "alice@example.com",
              "name": "Alice",
              "admin": false
            },
            "token": {
              "id": "tok_5b2e9f30c1a7",
              "kind": "user",
              "description": "fcm login on laptop",
              "createdAt": "2026-12-06T12:00:00Z",
              "expiresAt": "2027-01-05T12:00:00Z",
              "lastUsedAt": "2026-12-06T12:30:00Z"
            },
            "quota": {
              "user": "usr_8d41c07a2e95",
              "unlimited": false,
              "limits": {
                "vms": 10,
                "vcpus": 16,
                "memoryMib": 16384,
                "diskMib": 102400,
                "configVarsPerApp": 200,
                "configBytesPerApp": 65536,
                "repoMibPerApp": 512,
                "repoMibTotal": 2048,
                "pendingDomains": 10
              },
              "usage": {
                "vms": 2,
                "vcpus": 3,
                "memoryMib": 2048,
                "diskMib": 5120,
                "configVarsPerApp": 4,
                "configBytesPerApp": 180,
                "repoMibPerApp": 3,
                "repoMibTotal": 4,
                "pendingDomains": 1
              },
              "overrides": {
                "vms": 10
              }
            }
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "user",
          "token",
          "quota"
        ],
        "properties": {
          "user": {
            "$ref": "#/components/schemas/User"
          },
          "token": {
            "$ref": "#/components/schemas/TokenInfo"
          },
          "quota": {
            "$ref": "#/components/schemas/Quota"
          }
        }
      },
      "QuotaName": {
        "type": "string",
        "enum": [
          "vms",
          "vcpus",
          "memoryMib",
          "diskMib",
          "configVarsPerApp",
          "configBytesPerApp",
          "repoMibPerApp",
          "repoMibTotal",
          "pendingDomains"
        ],
        "description": "`vms`, `vcpus`, `memoryMib`, `diskMib` (root + swap): totals over all the user's VMs, whatever\ntheir state; `configVarsPerApp`, `configBytesPerApp` (keys + values, UTF-8): one app's config\nvars; `repoMibPerApp`, `repoMibTotal`: git repositories on disk, one app's and all of them;\n`pendingDomains`: custom domains not verified yet.\n"
      },
      "QuotaValues": {
        "examples": [
          {
            "vms": 10,
            "vcpus": 16,
            "memoryMib": 16384,
            "diskMib": 102400,
            "configVarsPerApp": 200,
            "configBytesPerApp": 65536,
            "repoMibPerApp": 512,
            "repoMibTotal": 2048,
            "pendingDomains": 10
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "vms",
          "vcpus",
          "memoryMib",
          "diskMib",
          "configVarsPerApp",
          "configBytesPerApp",
          "repoMibPerApp",
          "repoMibTotal",
          "pendingDomains"
        ],
        "properties": {
          "vms": {
            "type": [
              "integer",
              "null"
            ]
          },
          "vcpus": {
            "type": [
              "integer",
              "null"
            ]
          },
          "memoryMib": {
            "type": [
              "integer",
              "null"
            ]
          },
          "diskMib": {
            "type": [
              "integer",
              "null"
            ]
          },
          "configVarsPerApp": {
            "type": [
              "integer",
              "null"
            ]
          },
          "configBytesPerApp": {
            "type": [
              "integer",
              "null"
            ]
          },
          "repoMibPerApp": {
            "type": [
              "integer",
              "null"
            ]
          },
          "repoMibTotal": {
            "type": [
              "integer",
              "null"
            ]
          },
          "pendingDomains": {
            "type": [
              "integer",
              "null"
            ]
          }
        }
      },
      "Quota": {
        "examples": [
          {
            "user": "usr_8d41c07a2e95",
            "unlimited": false,
            "limits": {
              "vms": 10,
              "vcpus": 16,
              "memoryMib": 16384,
              "diskMib": 102400,
              "configVarsPerApp": 200,
              "configBytesPerApp": 65536,
              "repoMibPerApp": 512,
              "repoMibTotal": 2048,
              "pendingDomains": 10
            },
            "usage": {
              "vms": 2,
              "vcpus": 3,
              "memoryMib": 2048,
              "diskMib": 5120,
              "configVarsPerApp": 4,
              "configBytesPerApp": 180,
              "repoMibPerApp": 3,
              "repoMibTotal": 4,
              "pendingDomains": 1
            },
            "overrides": {
              "vms": 10
            }
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "required": [
          "user",
          "unlimited",
          "limits",
          "usage",
          "overrides"
        ],
        "properties": {
          "user": {
            "type": "string",
            "description": "The user's id"
          },
          "unlimited": {
            "type": "boolean",
            "description": "Admins: no limit applies"
          },
          "limits": {
            "$ref": "#/components/schemas/QuotaValues",
            "description": "Each limit in force (null = unlimited)"
          },
          "usage": {
            "$ref": "#/components/schemas/QuotaValues",
            "description": "What the user holds now (per-app values are the largest app's)"
          },
          "overrides": {
            "type": "object",
            "additionalProperties": false,
            "description": "Limits an admin set for this user (the others are the daemon's defaults)",
            "properties": {
              "vms": {
                "type": "integer"
              },
              "vcpus": {
                "type": "integer"
              },
              "memoryMib": {
                "type": "integer"
              },
              "diskMib": {
                "type": "integer"
              },
              "configVarsPerApp": {
                "type": "integer"
              },
              "configBytesPerApp": {
                "type": "integer"
              },
              "repoMibPerApp": {
                "type": "integer"
              },
              "repoMibTotal": {
                "type": "integer"
              },
              "pendingDomains": {
                "type": "integer"
              }
            }
          }
        }
      },
      "QuotaUpdate": {
        "examples": [
          {
            "vms": 20,
            "memoryMib": 32768,
            "reset": [
              "diskMib"
            ]
          }
        ],
        "type": "object",
        "additionalProperties": false,
        "minProperties": 1,
        "properties": {
          "vms": {
            "type": "integer",
            "minimum": 0,
            "maximum": 100000,
            "description": "Number of VMs"
          },
          "vcpus": {
            "type": "integer",
            "minimum": 0,
            "maximum": 1000000,
            "description": "vCPUs over all VMs"
          },
          "memoryMib": {
            "type": "integer",
            "minimum": 0,
            "maximum": 1073741824,
            "description": "Guest memory over all VMs (MiB)"
          },
          "diskMib": {
            "type": "integer",
            "minimum": 0,
            "maximum": 1073741824,
            "description": "Root + swap disk over all VMs (MiB)"
          },
          "configVarsPerApp": {
            "type": "integer",
            "minimum": 0,
            "maximum": 100000,
            "description": "Config vars of one app"
          },
          "configBytesPerApp": {
            "type": "integer",
            "minimum": 0,
            "maximum": 1073741824,
            "description": "Config var bytes of one app"
          },
          "repoMibPerApp": {
            "type": "integer",
            "minimum": 0,
            "maximum": 1073741824,
            "description": "Git repository of one app (MiB)"
          },
          "repoMibTotal": {
            "type": "integer",
            "minimum": 0,
            "maximum": 1073741824,
            "description": "All git repositories (MiB)"
          },
          "pendingDomains": {
            "type": "integer",
            "minimum": 0,
            "maximum": 100000,
            "description": "Custom domains waiting for verification"
          },
          "reset": {
            "type": "array",
            "uniqueItems": true,
            "maxItems": 9,
            "items": {
              "$ref": "#/components/schemas/QuotaName"
            },
            "description": "Limits to set back to the daemon's default"
          }
        }
      },
      "LimitInfo": {
        "type": "object",
        "description": "The limit a `quota_exceeded` or `insufficient_capacity` hit: its name (a QuotaName, or for\nhost capacity `memoryMib` / `vcpus`), its value, what is in use, what the request asked for.\n",
        "required": [
          "name",
          "value",
          "usage",
          "requested",
          "unit"
        ],
        "properties": {
          "name": {
            "type": "string",
            "examples": [
              "memoryMib"
            ]
          },
          "value": {
            "type": "number"
          },
          "usage": {
            "type": "number"
          },
          "requested": {
            "type": "number"
          },
          "unit": {
            "type": "string",
            "examples": [
              "MiB"
            ]
          }
        }
      },
      "Problem": {
        "examples": [
          {
            "type": "https://fcm.dev/problems/validation-failed",
            "title": "Invalid request",
            "status": 400,
            "code": "validation_failed",
            "detail": "/body/memoryMib must be >= 128",
            "errors": [
              {
                "path": "/body/memoryMib",
                "message": "must be >= 128"
              }
            ],
            "requestId": "req_5c1d9e0a7b3f"
          }
        ],
        "type": "object",
        "description": "RFC 9457 problem details with a stable machine-readable `code`",
        "required": [
          "type",
          "title",
          "status",
          "code"
        ],
        "properties": {
          "type": {
            "type": "string",
            "format": "uri-reference"
          },
          "title": {
            "type": "string"
          },
          "status": {
            "type": "integer"
          },
          "detail": {
            "type": "string"
          },
          "instance": {
            "type": "string"
          },
          "code": {
            "$ref": "#/components/schemas/ErrorCode"
          },
          "requestId": {
            "type": "string"
          },
          "limit": {
            "$ref": "#/components/schemas/LimitInfo",
            "description": "For `quota_exceeded` and `insufficient_capacity`, which limit and how far it is used"
          },
          "errors": {
            "type": "array",
            "description": "For `validation_failed`, each problem with the input",
            "items": {
              "type": "object",
              "required": [
                "path",
                "message"
              ],
              "properties": {
                "path": {
                  "type": "string",
                  "description": "JSON pointer into the request, e.g. /body/memoryMib"
                },
                "message": {
                  "type": "string"
                }
              }
            }
          }
        }
      },
      "ErrorCode": {
        "type": "string",
        "enum": [
          "validation_failed",
          "unauthorized",
          "forbidden",
          "not_found",
          "vm_not_found",
          "name_taken",
          "domain_taken",
          "domain_not_verified",
          "key_invalid",
          "key_taken",
          "key_proof_failed",
          "release_not_found",
          "snapshot_not_found",
          "deploy_failed",
          "no_previous_release",
          "authorization_pending",
          "slow_down",
          "access_denied",
          "expired_token",
          "login_failed",
          "auth_not_configured",
          "not_implemented",
          "invalid_state",
          "vm_failed",
          "wait_timeout",
          "quota_exceeded",
          "ip_pool_exhausted",
          "insufficient_capacity",
          "host_unreachable",
          "database_unavailable",
          "wrong_host",
          "image_missing",
          "hypervisor_failed",
          "disk_full",
          "payload_too_large",
          "backup_invalid",
          "unsupported_media_type",
          "method_not_allowed",
          "rate_limited",
          "too_many_runs",
          "guest_unreachable",
          "csrf_failed",
          "internal"
        ]
      }
    }
  }
};
