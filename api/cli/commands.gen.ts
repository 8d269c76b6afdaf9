// GENERATED from openapi.yaml by `npm run gen` — do not edit.
import type { CommandSpec } from '../gen/cli-table.js';

export const commandTable: CommandSpec[] = [
  {
    "operationId": "listHosts",
    "command": "cluster hosts",
    "method": "get",
    "path": "/v1/hosts",
    "group": "system",
    "summary": "List the cluster's hosts with capacity and usage (admin)",
    "description": "Every daemon joined to the same database (FCM_DATABASE_URL) registers itself and renews\na lease; a host whose lease lapsed is `unreachable`. A daemon on SQLite is a cluster of\none: it lists itself. Usage counts what VMs on the host hold (memory and vCPUs of VMs\nwith a hypervisor process; disk of every VM). (`fcm hosts` is something else: the servers\nthis laptop is logged in to.)",
    "args": [],
    "flags": [],
    "columns": [
      {
        "field": "id",
        "title": "ID",
        "format": "text"
      },
      {
        "field": "state",
        "title": "STATE",
        "format": "text"
      },
      {
        "field": "publicIp",
        "title": "PUBLIC IP",
        "format": "text"
      },
      {
        "field": "vms",
        "title": "VMS",
        "format": "text"
      },
      {
        "field": "usedMemoryMib",
        "title": "USED MEMORY MIB",
        "format": "text"
      },
      {
        "field": "memoryMib",
        "title": "MEMORY MIB",
        "format": "text"
      },
      {
        "field": "usedVcpus",
        "title": "USED VCPUS",
        "format": "text"
      },
      {
        "field": "vcpus",
        "title": "VCPUS",
        "format": "text"
      },
      {
        "field": "subnet",
        "title": "SUBNET",
        "format": "text"
      },
      {
        "field": "renewedAt",
        "title": "RENEWED",
        "format": "age"
      }
    ],
    "message": null,
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm cluster hosts",
      "fcm cluster hosts --json"
    ],
    "auth": true,
    "responseSchema": "HostList",
    "responseType": "json"
  },
  {
    "operationId": "createVm",
    "command": "create",
    "method": "post",
    "path": "/v1/vms",
    "group": "vms",
    "summary": "Create a VM (and remember it in ./.fcm)",
    "description": "Creates a VM and waits until it has booted (--no-wait returns at once).\nWithout a name, fcm picks one like cosmic-nova. Writes ./.fcm\n({\"vm\": ..., \"host\": ...}) so later commands here (stop, start,\ndestroy, ...) default to this VM.",
    "args": [
      {
        "name": "name",
        "in": "body",
        "required": false,
        "vmRef": false,
        "description": "DNS label, lower-case letters, digits and single hyphens, starting with a letter.",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [
      {
        "flag": "vcpus",
        "in": "body",
        "name": "vcpus",
        "description": "Virtual CPUs",
        "type": "integer",
        "default": 1,
        "minimum": 1,
        "maximum": 8
      },
      {
        "flag": "memory-mib",
        "in": "body",
        "name": "memoryMib",
        "description": "Guest RAM in MiB",
        "type": "integer",
        "default": 1024,
        "minimum": 128,
        "maximum": 16384
      },
      {
        "flag": "disk-mib",
        "in": "body",
        "name": "diskMib",
        "description": "Root disk size in MiB (sparse; only written blocks use host disk)",
        "type": "integer",
        "default": 2048,
        "minimum": 1024,
        "maximum": 262144
      },
      {
        "flag": "swap-mib",
        "in": "body",
        "name": "swapMib",
        "description": "Swap disk size in MiB (0 for none)",
        "type": "integer",
        "default": 512,
        "minimum": 0,
        "maximum": 8192
      },
      {
        "flag": "port",
        "in": "body",
        "name": "port",
        "description": "The guest port that receives the VM's HTTP traffic",
        "type": "integer",
        "default": 8000,
        "minimum": 1,
        "maximum": 65535
      },
      {
        "flag": "image",
        "in": "body",
        "name": "image",
        "description": "Base image name",
        "type": "string",
        "default": "base"
      },
      {
        "flag": "domains",
        "in": "body",
        "name": "domains",
        "description": "Extra custom domains for the VM (besides its own URL). New ones are pending until\nverified with a DNS TXT record (listDomains shows it); point their DNS at the server.\nThe server's own host name and the VM base domain cannot be claimed.\n",
        "type": "array",
        "items": "string"
      },
      {
        "flag": "sleep-after",
        "in": "body",
        "name": "sleepAfter",
        "description": "Put the VM to sleep (see sleepVm) once it has been idle this long — no\nrequest through its URL or custom domains, no console attached, no deploy\nrunning: a number with `s`, `m` or `h` (`15m`, `2h`), at least 10 s; `off`\n(the default) never. The next request wakes it.\n",
        "type": "string"
      },
      {
        "flag": "on-host",
        "in": "body",
        "name": "host",
        "description": "Pin the VM to this host of the cluster (an id from fcm cluster hosts). Without it the cluster places it: the up host with room for it (memory, vCPUs, disk, an IP) that has the most memory left.",
        "type": "string"
      }
    ],
    "columns": null,
    "message": "VM created: {name}\nURL: {url}",
    "empty": null,
    "waitFor": "running",
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm create",
      "fcm create my-app --memory-mib 2048",
      "fcm create preview --sleep-after 15m"
    ],
    "auth": true,
    "responseSchema": "Vm",
    "responseType": "json"
  },
  {
    "operationId": "deleteVm",
    "command": "destroy",
    "method": "delete",
    "path": "/v1/vms/{name}",
    "group": "vms",
    "summary": "Destroy a VM and its disk",
    "description": "Stops the hypervisor (forcefully) and removes its disk, tap and address. A VM whose\nhost is `unreachable` (its lease lapsed) is deleted too: its row goes at once (name,\naddress and quota are free) and its host removes the process, tap, disks and route\nwhen it returns.",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true,
        "description": "The VM's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [],
    "columns": null,
    "message": "Destroyed {name}.",
    "empty": null,
    "waitFor": null,
    "confirm": "Destroy {name}? Its disk and everything on it will be deleted.",
    "progress": "Destroying {name}",
    "examples": [
      "fcm destroy",
      "fcm destroy cosmic-nova --yes"
    ],
    "auth": true,
    "responseSchema": null,
    "responseType": null
  },
  {
    "operationId": "listDomains",
    "command": "domains",
    "method": "get",
    "path": "/v1/vms/{name}/domains",
    "group": "vms",
    "summary": "List a VM's custom domains and the DNS record that verifies each",
    "description": "Custom domains are added with `domains` on create or update. Each stays\n`pending` (no route, no certificate) until its owner proves control:\ncreate the TXT record shown (`recordName` = `recordValue`), then verify.",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true,
        "description": "The VM's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [],
    "columns": [
      {
        "field": "domain",
        "title": "DOMAIN",
        "format": "text"
      },
      {
        "field": "status",
        "title": "STATUS",
        "format": "text"
      },
      {
        "field": "recordName",
        "title": "TXT RECORD",
        "format": "text"
      },
      {
        "field": "recordValue",
        "title": "VALUE",
        "format": "text"
      }
    ],
    "message": null,
    "empty": "No custom domains. Add one with: fcm update --domains www.example.com",
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm domains",
      "fcm domains cosmic-nova --json"
    ],
    "auth": true,
    "responseSchema": "CustomDomainList",
    "responseType": "json"
  },
  {
    "operationId": "verifyDomain",
    "command": "domains verify",
    "method": "post",
    "path": "/v1/vms/{name}/domains/{domain}/verify",
    "group": "vms",
    "summary": "Verify a custom domain (after creating its TXT record)",
    "description": "Looks up `_fcm-challenge.<domain>` through the daemon's resolvers. If\nit holds this VM owner's token for the domain, the domain becomes\n`verified` and is routed (with a certificate). `domain_not_verified`\nsays what was found instead; `domain_taken` when another VM has it\nverified.",
    "args": [
      {
        "name": "domain",
        "in": "path",
        "required": true,
        "vmRef": false,
        "description": "One of the VM's custom domains",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [
      {
        "flag": "app",
        "in": "path",
        "name": "name",
        "description": "The app (VM) to act on",
        "type": "string",
        "short": "a",
        "vmRef": true
      }
    ],
    "columns": null,
    "message": "{domain} is verified and routed.",
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm domains verify www.example.com"
    ],
    "auth": true,
    "responseSchema": "CustomDomain",
    "responseType": "json"
  },
  {
    "operationId": "getEnv",
    "command": "env",
    "method": "get",
    "path": "/v1/vms/{name}/env",
    "group": "deploys",
    "summary": "Show config vars",
    "description": "",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true,
        "description": "The VM's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [],
    "columns": null,
    "message": null,
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm env",
      "fcm env --json"
    ],
    "auth": true,
    "responseSchema": "EnvVars",
    "responseType": "json"
  },
  {
    "operationId": "getHealth",
    "command": "health",
    "method": "get",
    "path": "/v1/health",
    "group": "system",
    "summary": "Show the daemon's health",
    "description": "",
    "args": [],
    "flags": [],
    "columns": null,
    "message": null,
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm health",
      "fcm health --json"
    ],
    "auth": false,
    "responseSchema": "Health",
    "responseType": "json"
  },
  {
    "operationId": "listKeys",
    "command": "keys",
    "method": "get",
    "path": "/v1/keys",
    "group": "keys",
    "summary": "List your SSH keys",
    "description": "",
    "args": [],
    "flags": [],
    "columns": [
      {
        "field": "id",
        "title": "ID",
        "format": "text"
      },
      {
        "field": "name",
        "title": "NAME",
        "format": "text"
      },
      {
        "field": "fingerprint",
        "title": "FINGERPRINT",
        "format": "text"
      },
      {
        "field": "createdAt",
        "title": "AGE",
        "format": "age"
      }
    ],
    "message": null,
    "empty": "No SSH keys. Add one with: fcm keys add ~/.ssh/id_ed25519.pub",
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm keys"
    ],
    "auth": true,
    "responseSchema": "SshKeyList",
    "responseType": "json"
  },
  {
    "operationId": "removeKey",
    "command": "keys rm",
    "method": "delete",
    "path": "/v1/keys/{id}",
    "group": "keys",
    "summary": "Remove an SSH key",
    "description": "",
    "args": [
      {
        "name": "id",
        "in": "path",
        "required": true,
        "vmRef": false,
        "description": "",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [],
    "columns": null,
    "message": "Removed key {id}",
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm keys rm key_3f9c2a7e1b4d"
    ],
    "auth": true,
    "responseSchema": null,
    "responseType": null
  },
  {
    "operationId": "getLogs",
    "command": "logs",
    "method": "get",
    "path": "/v1/vms/{name}/logs",
    "group": "deploys",
    "summary": "Show the app's logs (-f to follow)",
    "description": "Plain text, one line per output line, prefixed `<time> <process>[<n>]: `. With `follow=true` the response streams until the client disconnects.",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true,
        "description": "The VM's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [
      {
        "flag": "follow",
        "in": "query",
        "name": "follow",
        "description": "",
        "type": "boolean",
        "default": false,
        "short": "f"
      },
      {
        "flag": "lines",
        "in": "query",
        "name": "lines",
        "description": "How many recent lines to send first",
        "type": "integer",
        "default": 100,
        "minimum": 0,
        "maximum": 10000
      }
    ],
    "columns": null,
    "message": null,
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm logs",
      "fcm logs -f",
      "fcm logs --lines 500"
    ],
    "auth": true,
    "responseSchema": null,
    "responseType": "text"
  },
  {
    "operationId": "listVms",
    "command": "ls",
    "method": "get",
    "path": "/v1/vms",
    "group": "vms",
    "summary": "List your VMs",
    "description": "The answer carries an `ETag` that changes whenever the list could (a VM\ncreated, deleted, renamed, changed or changing state, a host becoming\nunreachable); send it back in `If-None-Match` and an unchanged list\nanswers `304 Not Modified` without a body. Tags are per caller\n(`Cache-Control: private`). Clients that accept gzip (`Accept-Encoding`)\nget the list gzipped, with its own tag; either tag answers 304.",
    "args": [],
    "flags": [],
    "columns": [
      {
        "field": "name",
        "title": "NAME",
        "format": "text"
      },
      {
        "field": "state",
        "title": "STATE",
        "format": "text"
      },
      {
        "field": "ip",
        "title": "IP",
        "format": "text"
      },
      {
        "field": "url",
        "title": "URL",
        "format": "text"
      },
      {
        "field": "createdAt",
        "title": "AGE",
        "format": "age"
      }
    ],
    "message": null,
    "empty": "No VMs yet. Create one with: fcm create",
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm ls",
      "fcm ls --json"
    ],
    "auth": true,
    "responseSchema": "VmList",
    "responseType": "json"
  },
  {
    "operationId": "getQuota",
    "command": "quota",
    "method": "get",
    "path": "/v1/users/{user}/quota",
    "group": "users",
    "summary": "Show a user's quota (limit and usage)",
    "description": "Limits (null: unlimited — admins are), what the user holds now, and\nthe overrides an admin set (the rest are the daemon's defaults,\nFCM_QUOTA_*). Users read their own (`me`); admins anyone's.",
    "args": [
      {
        "name": "user",
        "in": "path",
        "required": true,
        "vmRef": false,
        "description": "A user id (usr_…), an email address, `admin` (the admin token), or `me`",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [],
    "columns": null,
    "message": null,
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm quota me",
      "fcm quota alice@example.com --json"
    ],
    "auth": true,
    "responseSchema": "Quota",
    "responseType": "json"
  },
  {
    "operationId": "updateQuota",
    "command": "quota set",
    "method": "patch",
    "path": "/v1/users/{user}/quota",
    "group": "users",
    "summary": "Override a user's quota limits (admin)",
    "description": "Sets the given limits for this user; `reset` removes overrides (back\nto the daemon's default). Lowering a limit below what the user holds\ntakes nothing away; it only refuses growth until usage is below it.",
    "args": [
      {
        "name": "user",
        "in": "path",
        "required": true,
        "vmRef": false,
        "description": "A user id (usr_…), an email address, `admin` (the admin token), or `me`",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [
      {
        "flag": "vms",
        "in": "body",
        "name": "vms",
        "description": "Number of VMs",
        "type": "integer",
        "minimum": 0,
        "maximum": 100000
      },
      {
        "flag": "vcpus",
        "in": "body",
        "name": "vcpus",
        "description": "vCPUs over all VMs",
        "type": "integer",
        "minimum": 0,
        "maximum": 1000000
      },
      {
        "flag": "memory-mib",
        "in": "body",
        "name": "memoryMib",
        "description": "Guest memory over all VMs (MiB)",
        "type": "integer",
        "minimum": 0,
        "maximum": 1073741824
      },
      {
        "flag": "disk-mib",
        "in": "body",
        "name": "diskMib",
        "description": "Root + swap disk over all VMs (MiB)",
        "type": "integer",
        "minimum": 0,
        "maximum": 1073741824
      },
      {
        "flag": "config-vars-per-app",
        "in": "body",
        "name": "configVarsPerApp",
        "description": "Config vars of one app",
        "type": "integer",
        "minimum": 0,
        "maximum": 100000
      },
      {
        "flag": "config-bytes-per-app",
        "in": "body",
        "name": "configBytesPerApp",
        "description": "Config var bytes of one app",
        "type": "integer",
        "minimum": 0,
        "maximum": 1073741824
      },
      {
        "flag": "repo-mib-per-app",
        "in": "body",
        "name": "repoMibPerApp",
        "description": "Git repository of one app (MiB)",
        "type": "integer",
        "minimum": 0,
        "maximum": 1073741824
      },
      {
        "flag": "repo-mib-total",
        "in": "body",
        "name": "repoMibTotal",
        "description": "All git repositories (MiB)",
        "type": "integer",
        "minimum": 0,
        "maximum": 1073741824
      },
      {
        "flag": "pending-domains",
        "in": "body",
        "name": "pendingDomains",
        "description": "Custom domains waiting for verification",
        "type": "integer",
        "minimum": 0,
        "maximum": 100000
      },
      {
        "flag": "reset",
        "in": "body",
        "name": "reset",
        "description": "Limits to set back to the daemon's default",
        "type": "array",
        "items": "string",
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
        ]
      }
    ],
    "columns": null,
    "message": "Quota of {user} updated.",
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm quota set alice@example.com --vms 20 --memory-mib 20480",
      "fcm quota set usr_3f9c2a7e1b4d --reset vms,memoryMib"
    ],
    "auth": true,
    "responseSchema": "Quota",
    "responseType": "json"
  },
  {
    "operationId": "listReleases",
    "command": "releases",
    "method": "get",
    "path": "/v1/vms/{name}/releases",
    "group": "deploys",
    "summary": "List releases (deploys, rollbacks, config changes)",
    "description": "",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true,
        "description": "The VM's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [],
    "columns": [
      {
        "field": "version",
        "title": "VERSION",
        "format": "text"
      },
      {
        "field": "status",
        "title": "STATUS",
        "format": "text"
      },
      {
        "field": "commit",
        "title": "COMMIT",
        "format": "text"
      },
      {
        "field": "description",
        "title": "DESCRIPTION",
        "format": "text"
      },
      {
        "field": "createdAt",
        "title": "AGE",
        "format": "age"
      }
    ],
    "message": null,
    "empty": "No releases yet. Deploy with: git push <remote> main",
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm releases",
      "fcm releases --json"
    ],
    "auth": true,
    "responseSchema": "ReleaseList",
    "responseType": "json"
  },
  {
    "operationId": "getRelease",
    "command": "releases show",
    "method": "get",
    "path": "/v1/vms/{name}/releases/{version}",
    "group": "deploys",
    "summary": "Show one release and its build log",
    "description": "The release's details, then its build log as the push printed it\n(--json: the release object, log included).",
    "args": [
      {
        "name": "version",
        "in": "path",
        "required": true,
        "vmRef": false,
        "description": "",
        "type": "integer",
        "fromFile": false
      }
    ],
    "flags": [
      {
        "flag": "app",
        "in": "path",
        "name": "name",
        "description": "The app (VM) to act on",
        "type": "string",
        "short": "a",
        "vmRef": true
      }
    ],
    "columns": null,
    "message": null,
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm releases show 3",
      "fcm releases show 3 -a cosmic-nova",
      "fcm releases show 3 --json"
    ],
    "auth": true,
    "responseSchema": "Release",
    "responseType": "json"
  },
  {
    "operationId": "restartVm",
    "command": "restart",
    "method": "post",
    "path": "/v1/vms/{name}/restart",
    "group": "vms",
    "summary": "Restart a VM",
    "description": "",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true,
        "description": "The VM's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [
      {
        "flag": "timeout-ms",
        "in": "body",
        "name": "timeoutMs",
        "description": "How long to wait for a graceful shutdown before killing the VM",
        "type": "integer",
        "default": 10000,
        "minimum": 0,
        "maximum": 600000
      },
      {
        "flag": "force",
        "in": "body",
        "name": "force",
        "description": "Skip the graceful shutdown",
        "type": "boolean",
        "default": false
      }
    ],
    "columns": null,
    "message": "Restarted {name}: {url}",
    "empty": null,
    "waitFor": "running",
    "confirm": null,
    "progress": "Stopping {name}",
    "examples": [
      "fcm restart"
    ],
    "auth": true,
    "responseSchema": "Vm",
    "responseType": "json"
  },
  {
    "operationId": "rollbackVm",
    "command": "rollback",
    "method": "post",
    "path": "/v1/vms/{name}/rollback",
    "group": "deploys",
    "summary": "Roll back to an earlier release (default: the previous one)",
    "description": "Starts the given release's code again (default: the release before the\ncurrent one) as a new release, with zero downtime like a deploy.",
    "args": [
      {
        "name": "version",
        "in": "body",
        "required": false,
        "vmRef": false,
        "description": "Release to go back to",
        "type": "integer",
        "fromFile": false
      }
    ],
    "flags": [
      {
        "flag": "app",
        "in": "path",
        "name": "name",
        "description": "The app (VM) to act on",
        "type": "string",
        "short": "a",
        "vmRef": true
      }
    ],
    "columns": null,
    "message": "Rolled back {name} to v{rollbackOf} (now v{version})",
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": "Rolling back {name}",
    "examples": [
      "fcm rollback",
      "fcm rollback 3"
    ],
    "auth": true,
    "responseSchema": "Release",
    "responseType": "json"
  },
  {
    "operationId": "getVm",
    "command": "show",
    "method": "get",
    "path": "/v1/vms/{name}",
    "group": "vms",
    "summary": "Show one VM",
    "description": "",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true,
        "description": "The VM's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [],
    "columns": null,
    "message": null,
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm show",
      "fcm show cosmic-nova --json"
    ],
    "auth": true,
    "responseSchema": "Vm",
    "responseType": "json"
  },
  {
    "operationId": "sleepVm",
    "command": "sleep",
    "method": "post",
    "path": "/v1/vms/{name}/sleep",
    "group": "vms",
    "summary": "Put a VM to sleep (memory to disk; the next request wakes it)",
    "description": "Saves the VM's memory to disk and ends its process: it uses no memory or\nCPU until something needs it. The first HTTP request to its URL wakes it\n(held, then served — no error page), as do fcm start, fcm console,\nfcm logs and git push. Apps resume where they paused.",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true,
        "description": "The VM's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [],
    "columns": null,
    "message": "{name} is asleep. The next request to {url} wakes it (or: fcm start {name}).",
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": "Putting {name} to sleep",
    "examples": [
      "fcm sleep",
      "fcm sleep cosmic-nova --json"
    ],
    "auth": true,
    "responseSchema": "Vm",
    "responseType": "json"
  },
  {
    "operationId": "createSnapshot",
    "command": "snapshot create",
    "method": "post",
    "path": "/v1/vms/{name}/snapshots",
    "group": "vms",
    "summary": "Snapshot a running VM (memory + disk, a short pause)",
    "description": "Takes a point-in-time snapshot of the VM (the one in ./.fcm, or -a/--app):\nits memory, processes and disk exactly as they are now. The VM keeps\nrunning; it is paused only while its used memory is written (pausedMs\nsays how long). `fcm snapshot restore <snapshot>` brings it all back;\nthe snapshot costs disk only for its memory and what changes later.",
    "args": [
      {
        "name": "snapshot",
        "in": "body",
        "required": false,
        "vmRef": false,
        "description": "Lower-case letters, digits and hyphens, starting with a letter or digit (unique per VM).",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [
      {
        "flag": "app",
        "in": "path",
        "name": "name",
        "description": "The app (VM) to act on",
        "type": "string",
        "short": "a",
        "vmRef": true
      }
    ],
    "columns": null,
    "message": "Snapshot {snapshot} of {vm} taken (paused {pausedMs} ms).",
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm snapshot create before-migration",
      "fcm snapshot create -a cosmic-nova nightly --json"
    ],
    "auth": true,
    "responseSchema": "Snapshot",
    "responseType": "json"
  },
  {
    "operationId": "listSnapshots",
    "command": "snapshot ls",
    "method": "get",
    "path": "/v1/vms/{name}/snapshots",
    "group": "vms",
    "summary": "List a VM's snapshots",
    "description": "",
    "args": [],
    "flags": [
      {
        "flag": "app",
        "in": "path",
        "name": "name",
        "description": "The app (VM) to act on",
        "type": "string",
        "short": "a",
        "vmRef": true
      }
    ],
    "columns": [
      {
        "field": "snapshot",
        "title": "SNAPSHOT",
        "format": "text"
      },
      {
        "field": "pausedMs",
        "title": "PAUSED MS",
        "format": "text"
      },
      {
        "field": "sizeBytes",
        "title": "BYTES",
        "format": "text"
      },
      {
        "field": "createdAt",
        "title": "AGE",
        "format": "age"
      }
    ],
    "message": null,
    "empty": "No snapshots. Take one with: fcm snapshot create <snapshot>",
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm snapshot ls",
      "fcm snapshot ls -a cosmic-nova --json"
    ],
    "auth": true,
    "responseSchema": "SnapshotList",
    "responseType": "json"
  },
  {
    "operationId": "restoreSnapshot",
    "command": "snapshot restore",
    "method": "post",
    "path": "/v1/vms/{name}/snapshots/{snapshot}/restore",
    "group": "vms",
    "summary": "Roll a VM back to a snapshot (memory + disk)",
    "description": "Ends the VM's current process (if any), rolls its disks back to the\nsnapshot and restores its memory: the VM runs again exactly as it was\nwhen the snapshot was taken; everything since is gone (the snapshot\nitself stays, and can be restored again). Works on a running, stopped,\nfailed or sleeping VM (a sleeping VM's saved memory is dropped). The VM\nis `starting` until its agent answers. A VM resized since the snapshot\nis `invalid_state`. If the restore fails the VM is `failed` with\n`lastError` saying why; `fcm start` boots it from its (rolled back) disk.",
    "args": [
      {
        "name": "snapshot",
        "in": "path",
        "required": true,
        "vmRef": false,
        "description": "The snapshot's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [
      {
        "flag": "app",
        "in": "path",
        "name": "name",
        "description": "The app (VM) to act on",
        "type": "string",
        "short": "a",
        "vmRef": true
      }
    ],
    "columns": null,
    "message": "{name} is back at snapshot {snapshot}: {url}",
    "empty": null,
    "waitFor": "running",
    "confirm": "Roll {name} back to snapshot {snapshot}? Everything since (memory and disk) is lost.",
    "progress": null,
    "examples": [
      "fcm snapshot restore before-migration",
      "fcm snapshot restore -a cosmic-nova nightly --yes"
    ],
    "auth": true,
    "responseSchema": "Vm",
    "responseType": "json"
  },
  {
    "operationId": "deleteSnapshot",
    "command": "snapshot rm",
    "method": "delete",
    "path": "/v1/vms/{name}/snapshots/{snapshot}",
    "group": "vms",
    "summary": "Delete a snapshot",
    "description": "Deletes the snapshot's memory state and its disk snapshot; the VM is not touched. `snapshot_not_found` when there is none of that name.",
    "args": [
      {
        "name": "snapshot",
        "in": "path",
        "required": true,
        "vmRef": false,
        "description": "The snapshot's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [
      {
        "flag": "app",
        "in": "path",
        "name": "name",
        "description": "The app (VM) to act on",
        "type": "string",
        "short": "a",
        "vmRef": true
      }
    ],
    "columns": null,
    "message": "Deleted snapshot {snapshot}.",
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm snapshot rm before-migration"
    ],
    "auth": true,
    "responseSchema": null,
    "responseType": null
  },
  {
    "operationId": "startVm",
    "command": "start",
    "method": "post",
    "path": "/v1/vms/{name}/start",
    "group": "vms",
    "summary": "Start a stopped VM (or wake a sleeping one)",
    "description": "Starting a VM that is already running or starting succeeds and changes nothing.\nA `sleeping` VM is woken: restored from its saved memory, it resumes where it\npaused (processes, open files, the app's state); if its saved state cannot be\nrestored it cold-boots from its disk instead and `lastError` says why.",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true,
        "description": "The VM's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [],
    "columns": null,
    "message": "Started {name}: {url}",
    "empty": null,
    "waitFor": "running",
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm start",
      "fcm start cosmic-nova"
    ],
    "auth": true,
    "responseSchema": "Vm",
    "responseType": "json"
  },
  {
    "operationId": "stopVm",
    "command": "stop",
    "method": "post",
    "path": "/v1/vms/{name}/stop",
    "group": "vms",
    "summary": "Stop a VM (graceful, then forced after a timeout)",
    "description": "Asks the guest to shut down (Ctrl-Alt-Del) and waits up to `timeoutMs`;\nthen kills the hypervisor. Stopping a stopped VM succeeds.",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true,
        "description": "The VM's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [
      {
        "flag": "timeout-ms",
        "in": "body",
        "name": "timeoutMs",
        "description": "How long to wait for a graceful shutdown before killing the VM",
        "type": "integer",
        "default": 10000,
        "minimum": 0,
        "maximum": 600000
      },
      {
        "flag": "force",
        "in": "body",
        "name": "force",
        "description": "Skip the graceful shutdown",
        "type": "boolean",
        "default": false
      }
    ],
    "columns": null,
    "message": "Stopped {name}.",
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": "Stopping {name}",
    "examples": [
      "fcm stop",
      "fcm stop cosmic-nova --timeout-ms 2000",
      "fcm stop --force"
    ],
    "auth": true,
    "responseSchema": "Vm",
    "responseType": "json"
  },
  {
    "operationId": "listTokens",
    "command": "tokens",
    "method": "get",
    "path": "/v1/tokens",
    "group": "auth",
    "summary": "List your tokens",
    "description": "",
    "args": [],
    "flags": [],
    "columns": [
      {
        "field": "id",
        "title": "ID",
        "format": "text"
      },
      {
        "field": "description",
        "title": "DESCRIPTION",
        "format": "text"
      },
      {
        "field": "createdAt",
        "title": "AGE",
        "format": "age"
      },
      {
        "field": "expiresAt",
        "title": "EXPIRES AT",
        "format": "text"
      },
      {
        "field": "lastUsedAt",
        "title": "LAST USED AT",
        "format": "text"
      }
    ],
    "message": null,
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm tokens"
    ],
    "auth": true,
    "responseSchema": "TokenList",
    "responseType": "json"
  },
  {
    "operationId": "revokeToken",
    "command": "tokens revoke",
    "method": "delete",
    "path": "/v1/tokens/{id}",
    "group": "auth",
    "summary": "Revoke one of your tokens",
    "description": "",
    "args": [
      {
        "name": "id",
        "in": "path",
        "required": true,
        "vmRef": false,
        "description": "",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [],
    "columns": null,
    "message": "Revoked {id}",
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm tokens revoke tok_3f9c2a7e1b4d"
    ],
    "auth": true,
    "responseSchema": null,
    "responseType": null
  },
  {
    "operationId": "updateVm",
    "command": "update",
    "method": "patch",
    "path": "/v1/vms/{name}",
    "group": "vms",
    "summary": "Resize a VM or set its custom domains",
    "description": "Changes the VM's size (a running VM restarts to take it: fcm waits until\nit is running again, --no-wait returns at once), its custom domains or\nwhen it sleeps when idle.",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true,
        "description": "The VM's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [
      {
        "flag": "vcpus",
        "in": "body",
        "name": "vcpus",
        "description": "",
        "type": "integer",
        "minimum": 1,
        "maximum": 8
      },
      {
        "flag": "memory-mib",
        "in": "body",
        "name": "memoryMib",
        "description": "",
        "type": "integer",
        "minimum": 128,
        "maximum": 16384
      },
      {
        "flag": "domains",
        "in": "body",
        "name": "domains",
        "description": "Extra custom domains for the VM (besides its own URL). New ones are pending until\nverified with a DNS TXT record (listDomains shows it); point their DNS at the server.\nThe server's own host name and the VM base domain cannot be claimed.\n",
        "type": "array",
        "items": "string"
      },
      {
        "flag": "sleep-after",
        "in": "body",
        "name": "sleepAfter",
        "description": "Put the VM to sleep (see sleepVm) once it has been idle this long — no\nrequest through its URL or custom domains, no console attached, no deploy\nrunning: a number with `s`, `m` or `h` (`15m`, `2h`), at least 10 s; `off`\n(the default) never. The next request wakes it.\n",
        "type": "string"
      }
    ],
    "columns": null,
    "message": null,
    "empty": null,
    "waitFor": "running",
    "confirm": null,
    "progress": "Updating {name}",
    "examples": [
      "fcm update --memory-mib 2048",
      "fcm update --domains www.example.com,example.com",
      "fcm update --sleep-after 15m",
      "fcm update --sleep-after off"
    ],
    "auth": true,
    "responseSchema": "Vm",
    "responseType": "json"
  },
  {
    "operationId": "waitVm",
    "command": "wait",
    "method": "get",
    "path": "/v1/vms/{name}/wait",
    "group": "vms",
    "summary": "Wait for a VM to reach a state",
    "description": "Long-polls until the VM is in `state` (200) or `timeout` seconds pass\n(408, code `wait_timeout`). If the VM ends up `failed` while waiting\nfor another state, answers 409 with code `vm_failed`.",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true,
        "description": "The VM's name",
        "type": "string",
        "fromFile": false
      }
    ],
    "flags": [
      {
        "flag": "state",
        "in": "query",
        "name": "state",
        "description": "The state to wait for",
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
        "default": "running"
      },
      {
        "flag": "timeout",
        "in": "query",
        "name": "timeout",
        "description": "Seconds to wait",
        "type": "integer",
        "default": 60,
        "minimum": 1,
        "maximum": 600
      }
    ],
    "columns": null,
    "message": "{name} is {state}.",
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm wait --state running --timeout 60"
    ],
    "auth": true,
    "responseSchema": "Vm",
    "responseType": "json"
  },
  {
    "operationId": "whoami",
    "command": "whoami",
    "method": "get",
    "path": "/v1/auth/whoami",
    "group": "auth",
    "summary": "Show who you are logged in as",
    "description": "",
    "args": [],
    "flags": [],
    "columns": null,
    "message": null,
    "empty": null,
    "waitFor": null,
    "confirm": null,
    "progress": null,
    "examples": [
      "fcm whoami",
      "fcm whoami --json"
    ],
    "auth": true,
    "responseSchema": "Whoami",
    "responseType": "json"
  }
];
