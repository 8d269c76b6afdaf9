// GENERATED from openapi.yaml by `npm run gen` — do not edit.
import type { CommandSpec } from '../gen/cli-table.js';

export const commandTable: CommandSpec[] = [
  {
    "operationId": "createVm",
    "command": "create",
    "method": "post",
    "path": "/v1/vms",
    "summary": "Create a VM (and remember it in ./.fcm)",
    "description": "Allocates an address, a copy-on-write disk and a tap device, then\nstarts the hypervisor. Returns once the hypervisor process is\nrunning (state `starting`); the VM becomes `running` when the guest\nhas booted — poll `GET /v1/vms/{name}/wait?state=running`.\nAll-or-nothing: on any failure everything made so far is undone.",
    "args": [
      {
        "name": "name",
        "in": "body",
        "required": false,
        "vmRef": false
      }
    ],
    "flags": [
      {
        "flag": "vcpus",
        "in": "body",
        "name": "vcpus",
        "type": "integer",
        "description": "",
        "default": 1
      },
      {
        "flag": "memory-mib",
        "in": "body",
        "name": "memoryMib",
        "type": "integer",
        "description": "Guest RAM in MiB",
        "default": 1024
      },
      {
        "flag": "disk-mib",
        "in": "body",
        "name": "diskMib",
        "type": "integer",
        "description": "Root disk size in MiB (sparse; only written blocks use host disk)",
        "default": 2048
      },
      {
        "flag": "swap-mib",
        "in": "body",
        "name": "swapMib",
        "type": "integer",
        "description": "Swap disk size in MiB (0 for none)",
        "default": 512
      },
      {
        "flag": "port",
        "in": "body",
        "name": "port",
        "type": "integer",
        "description": "The guest port that receives the VM's HTTP traffic",
        "default": 8000
      },
      {
        "flag": "image",
        "in": "body",
        "name": "image",
        "type": "string",
        "description": "Base image name",
        "default": "base"
      }
    ],
    "columns": null,
    "waitFor": "running",
    "confirm": null,
    "examples": [
      "fcm create",
      "fcm create my-app --memory-mib 2048"
    ],
    "auth": true,
    "responseSchema": "Vm"
  },
  {
    "operationId": "deleteVm",
    "command": "destroy",
    "method": "delete",
    "path": "/v1/vms/{name}",
    "summary": "Destroy a VM and its disk",
    "description": "Stops the hypervisor (forcefully) and removes its disk, tap and address.",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true
      }
    ],
    "flags": [],
    "columns": null,
    "waitFor": null,
    "confirm": "Destroy {name}? Its disk and everything on it will be deleted.",
    "examples": [
      "fcm destroy",
      "fcm destroy cosmic-nova --yes"
    ],
    "auth": true,
    "responseSchema": null
  },
  {
    "operationId": "getHealth",
    "command": "health",
    "method": "get",
    "path": "/v1/health",
    "summary": "Show the daemon's health",
    "description": "",
    "args": [],
    "flags": [],
    "columns": null,
    "waitFor": null,
    "confirm": null,
    "examples": [
      "fcm health",
      "fcm health --json"
    ],
    "auth": false,
    "responseSchema": "Health"
  },
  {
    "operationId": "listVms",
    "command": "ls",
    "method": "get",
    "path": "/v1/vms",
    "summary": "List your VMs",
    "description": "",
    "args": [],
    "flags": [],
    "columns": [
      "name",
      "state",
      "ip",
      "url",
      "createdAt"
    ],
    "waitFor": null,
    "confirm": null,
    "examples": [
      "fcm ls",
      "fcm ls --json"
    ],
    "auth": true,
    "responseSchema": "VmList"
  },
  {
    "operationId": "restartVm",
    "command": "restart",
    "method": "post",
    "path": "/v1/vms/{name}/restart",
    "summary": "Restart a VM",
    "description": "",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true
      }
    ],
    "flags": [
      {
        "flag": "timeout-ms",
        "in": "body",
        "name": "timeoutMs",
        "type": "integer",
        "description": "How long to wait for a graceful shutdown before killing the VM",
        "default": 10000
      },
      {
        "flag": "force",
        "in": "body",
        "name": "force",
        "type": "boolean",
        "description": "Skip the graceful shutdown",
        "default": false
      }
    ],
    "columns": null,
    "waitFor": "running",
    "confirm": null,
    "examples": [
      "fcm restart"
    ],
    "auth": true,
    "responseSchema": "Vm"
  },
  {
    "operationId": "getVm",
    "command": "show",
    "method": "get",
    "path": "/v1/vms/{name}",
    "summary": "Show one VM",
    "description": "",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true
      }
    ],
    "flags": [],
    "columns": null,
    "waitFor": null,
    "confirm": null,
    "examples": [
      "fcm show",
      "fcm show cosmic-nova --json"
    ],
    "auth": true,
    "responseSchema": "Vm"
  },
  {
    "operationId": "startVm",
    "command": "start",
    "method": "post",
    "path": "/v1/vms/{name}/start",
    "summary": "Start a stopped VM",
    "description": "Starting a VM that is already running or starting succeeds and changes nothing.",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true
      }
    ],
    "flags": [],
    "columns": null,
    "waitFor": "running",
    "confirm": null,
    "examples": [
      "fcm start",
      "fcm start cosmic-nova"
    ],
    "auth": true,
    "responseSchema": "Vm"
  },
  {
    "operationId": "stopVm",
    "command": "stop",
    "method": "post",
    "path": "/v1/vms/{name}/stop",
    "summary": "Stop a VM (graceful, then forced after a timeout)",
    "description": "Asks the guest to shut down (Ctrl-Alt-Del) and waits up to `timeoutMs`;\nthen kills the hypervisor. Stopping a stopped VM succeeds.",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true
      }
    ],
    "flags": [
      {
        "flag": "timeout-ms",
        "in": "body",
        "name": "timeoutMs",
        "type": "integer",
        "description": "How long to wait for a graceful shutdown before killing the VM",
        "default": 10000
      },
      {
        "flag": "force",
        "in": "body",
        "name": "force",
        "type": "boolean",
        "description": "Skip the graceful shutdown",
        "default": false
      }
    ],
    "columns": null,
    "waitFor": null,
    "confirm": null,
    "examples": [
      "fcm stop",
      "fcm stop cosmic-nova --timeout-ms 2000",
      "fcm stop --force"
    ],
    "auth": true,
    "responseSchema": "Vm"
  },
  {
    "operationId": "waitVm",
    "command": "wait",
    "method": "get",
    "path": "/v1/vms/{name}/wait",
    "summary": "Wait for a VM to reach a state",
    "description": "Long-polls until the VM is in `state` (200) or `timeout` seconds pass\n(408, code `wait_timeout`). If the VM ends up `failed` while waiting\nfor another state, answers 409 with code `vm_failed`.",
    "args": [
      {
        "name": "name",
        "in": "path",
        "required": true,
        "vmRef": true
      }
    ],
    "flags": [
      {
        "flag": "state",
        "in": "query",
        "name": "state",
        "type": "string",
        "description": "`creating` — resources being allocated; `starting` — hypervisor running, guest booting;\n`running` — the guest agent answered; `stopping`; `stopped`; `failed` — the guest\ndid not boot or the hypervisor died (see `lastError`); `deleting`.\n",
        "enum": [
          "creating",
          "starting",
          "running",
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
        "type": "integer",
        "description": "Seconds to wait",
        "default": 60
      }
    ],
    "columns": null,
    "waitFor": null,
    "confirm": null,
    "examples": [
      "fcm wait --state running --timeout 60"
    ],
    "auth": true,
    "responseSchema": "Vm"
  }
];
