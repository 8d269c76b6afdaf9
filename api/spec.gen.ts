// GENERATED from openapi.yaml by `npm run gen` — do not edit.
/* eslint-disable */
export const spec: Record<string, any> = {
  "openapi": "3.1.0",
  "info": {
    "title": "fcm",
    "version": "0.1.0",
    "summary": "Apps in microVMs on your own server.",
    "description": "The one contract between the fcm daemon and every client: the `fcm` CLI,\nthe Pulumi and Terraform providers, and curl.\n\nEvery error is an RFC 9457 `application/problem+json` document with a\nstable `code`; clients branch on `code`, never on the message text.\n\n`x-cli` on an operation describes the `fcm` command generated from it:\n`command` (name), `args` (positional parameters, in order; a parameter\nmay default to the VM remembered in `./.fcm`), `columns` (table output),\n`waitFor` (poll wait-for-state after the call), `confirm` (ask before\ndoing it), `summary`, `examples`.\n",
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
    }
  ],
  "tags": [
    {
      "name": "vms",
      "description": "MicroVM lifecycle"
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
        "responses": {
          "200": {
            "description": "The VMs visible to the caller, oldest first",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/VmList"
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
        "operationId": "createVm",
        "tags": [
          "vms"
        ],
        "summary": "Create and boot a VM",
        "description": "Allocates an address, a copy-on-write disk and a tap device, then\nstarts the hypervisor. Returns once the hypervisor process is\nrunning (state `starting`); the VM becomes `running` when the guest\nhas booted — poll `GET /v1/vms/{name}/wait?state=running`.\nAll-or-nothing: on any failure everything made so far is undone.\n",
        "x-cli": {
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
            "fcm create my-app --memory-mib 2048"
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
        "description": "Stops the hypervisor (forcefully) and removes its disk, tap and address.",
        "x-cli": {
          "command": "destroy",
          "args": [
            "name"
          ],
          "confirm": "Destroy {name}? Its disk and everything on it will be deleted.",
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
        "summary": "Change a VM's size or custom domains",
        "description": "Changing `vcpus` or `memoryMib` of a running VM restarts it (graceful\nstop, then start) so the new size takes effect; a stopped VM keeps\nthe new size for its next start. `domains` replaces the VM's list of\ncustom domains (routes follow immediately, no restart).\n",
        "x-cli": {
          "command": "update",
          "args": [
            "name"
          ],
          "summary": "Resize a VM or set its custom domains",
          "examples": [
            "fcm update --memory-mib 2048",
            "fcm update --domains www.example.com,example.com"
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
        "summary": "Start a stopped VM",
        "description": "Starting a VM that is already running or starting succeeds and changes nothing.",
        "x-cli": {
          "command": "start",
          "args": [
            "name"
          ],
          "waitFor": "running",
          "summary": "Start a stopped VM",
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
    }
  },
  "components": {
    "securitySchemes": {
      "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An fcm token (`fcm login`), or the admin token from `<state dir>/.token`."
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
          "stopping",
          "stopped",
          "failed",
          "deleting"
        ],
        "description": "`creating` — resources being allocated; `starting` — hypervisor running, guest booting;\n`running` — the guest agent answered; `stopping`; `stopped`; `failed` — the guest\ndid not boot or the hypervisor died (see `lastError`); `deleting`.\n"
      },
      "CreateVmRequest": {
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
            "default": 1
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
          }
        }
      },
      "UpdateVmRequest": {
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
          }
        }
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
      "DomainList": {
        "type": "array",
        "description": "Extra custom domains routed to the VM (besides its own URL). Point their DNS at the server.",
        "maxItems": 20,
        "uniqueItems": true,
        "items": {
          "$ref": "#/components/schemas/Hostname"
        }
      },
      "StopVmRequest": {
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
          "hypervisor",
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
            "$ref": "#/components/schemas/VmState"
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
            "description": "Custom domains routed to the VM"
          },
          "hypervisor": {
            "type": "string",
            "enum": [
              "qemu",
              "firecracker"
            ]
          },
          "lastError": {
            "type": [
              "string",
              "null"
            ],
            "description": "Why the VM is `failed`, if it is"
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
      "VmList": {
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
          "vms": {
            "type": "object",
            "additionalProperties": false,
            "required": [
              "total",
              "running"
            ],
            "properties": {
              "total": {
                "type": "integer"
              },
              "running": {
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
      "Problem": {
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
          "invalid_state",
          "vm_failed",
          "wait_timeout",
          "quota_exceeded",
          "ip_pool_exhausted",
          "image_missing",
          "hypervisor_failed",
          "disk_full",
          "payload_too_large",
          "unsupported_media_type",
          "method_not_allowed",
          "rate_limited",
          "internal"
        ]
      }
    }
  }
};
