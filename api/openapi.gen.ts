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
    "/v1/vms": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List VMs */
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
         * @description Stops the hypervisor (forcefully) and removes its disk, tap and address.
         */
        delete: operations["deleteVm"];
        options?: never;
        head?: never;
        /**
         * Change a VM's size or custom domains
         * @description Changing `vcpus` or `memoryMib` of a running VM restarts it (graceful
         *     stop, then start) so the new size takes effect; a stopped VM keeps
         *     the new size for its next start. `domains` replaces the VM's list of
         *     custom domains (routes follow immediately, no restart).
         */
        patch: operations["updateVm"];
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
         * Start a stopped VM
         * @description Starting a VM that is already running or starting succeeds and changes nothing.
         */
        post: operations["startVm"];
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
         * @description `creating` — resources being allocated; `starting` — hypervisor running, guest booting;
         *     `running` — the guest agent answered; `stopping`; `stopped`; `failed` — the guest
         *     did not boot or the hypervisor died (see `lastError`); `deleting`.
         * @enum {string}
         */
        VmState: "creating" | "starting" | "running" | "stopping" | "stopped" | "failed" | "deleting";
        CreateVmRequest: {
            name?: components["schemas"]["VmName"];
            /** @default 1 */
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
        };
        UpdateVmRequest: {
            vcpus?: number;
            memoryMib?: number;
            domains?: components["schemas"]["DomainList"];
        };
        /**
         * @description A fully qualified DNS name (lower case, no wildcard, no trailing dot, not an IP address).
         * @example www.example.com
         */
        Hostname: string;
        /** @description Extra custom domains routed to the VM (besides its own URL). Point their DNS at the server. */
        DomainList: components["schemas"]["Hostname"][];
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
        Vm: {
            /** @example vm_3f9c2a7e1b4d */
            id: string;
            name: components["schemas"]["VmName"];
            state: components["schemas"]["VmState"];
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
            /** @description Custom domains routed to the VM */
            domains: string[];
            /** @enum {string} */
            hypervisor: "qemu" | "firecracker";
            /** @description Why the VM is `failed`, if it is */
            lastError?: string | null;
            /** Format: date-time */
            createdAt: string;
            /** Format: date-time */
            updatedAt: string;
        };
        VmList: {
            vms: components["schemas"]["Vm"][];
        };
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
            vms: {
                total: number;
                running: number;
            };
            /** @description Dependency name → status */
            checks?: {
                [key: string]: {
                    ok: boolean;
                    detail?: string;
                };
            };
        };
        /** @description RFC 9457 problem details with a stable machine-readable `code` */
        Problem: {
            /** Format: uri-reference */
            type: string;
            title: string;
            status: number;
            detail?: string;
            instance?: string;
            code: components["schemas"]["ErrorCode"];
            requestId?: string;
            /** @description For `validation_failed`, each problem with the input */
            errors?: {
                /** @description JSON pointer into the request, e.g. /body/memoryMib */
                path: string;
                message: string;
            }[];
        };
        /** @enum {string} */
        ErrorCode: "validation_failed" | "unauthorized" | "forbidden" | "not_found" | "vm_not_found" | "name_taken" | "domain_taken" | "invalid_state" | "vm_failed" | "wait_timeout" | "quota_exceeded" | "ip_pool_exhausted" | "image_missing" | "hypervisor_failed" | "disk_full" | "payload_too_large" | "unsupported_media_type" | "method_not_allowed" | "rate_limited" | "internal";
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
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["VmList"];
                };
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
}
