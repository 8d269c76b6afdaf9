// https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface VmConfig extends cdktf.TerraformMetaArguments {
  /**
  * Root disk size in MiB (sparse). Disks are never resized in place: any change replaces the VM, and the new VM starts from a fresh disk (the old disk and its data are deleted).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm#disk_mib Vm#disk_mib}
  */
  readonly diskMib?: number;
  /**
  * Extra custom domains routed to the VM. Changed in place, no restart.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm#domains Vm#domains}
  */
  readonly domains?: string[];
  /**
  * Base image. The root disk is a copy-on-write copy of it: a change replaces the VM.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm#image Vm#image}
  */
  readonly image?: string;
  /**
  * Guest RAM in MiB. Changed in place; a running VM restarts (graceful stop, then start).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm#memory_mib Vm#memory_mib}
  */
  readonly memoryMib?: number;
  /**
  * VM name: a DNS label, also the host name in its URL and the git remote. Changing it creates a new VM (the name is the identity the API addresses).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm#name Vm#name}
  */
  readonly name: string;
  /**
  * Guest port that receives the VM's HTTP traffic. The API cannot change it on an existing VM: a change replaces the VM.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm#port Vm#port}
  */
  readonly port?: number;
  /**
  * Whether the VM should be running (default true). A VM stopped outside IaC shows as a change back to running; false stops it.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm#running Vm#running}
  */
  readonly running?: boolean | cdktf.IResolvable;
  /**
  * Idle time after which the VM sleeps (memory saved to disk, woken by the next request): a number with s, m or h (15m, 2h), at least 10 s, or off (the default). Changed in place, no restart.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm#sleep_after Vm#sleep_after}
  */
  readonly sleepAfter?: string;
  /**
  * Swap disk size in MiB (0 for none). The swap disk is made at creation: a change replaces the VM.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm#swap_mib Vm#swap_mib}
  */
  readonly swapMib?: number;
  /**
  * Virtual CPUs. Changed in place; a running VM restarts (graceful stop, then start).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm#vcpus Vm#vcpus}
  */
  readonly vcpus?: number;
  /**
  * How long create and update wait for the VM to be running, in seconds (default 300). Changing it changes nothing on the server.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm#wait_timeout_seconds Vm#wait_timeout_seconds}
  */
  readonly waitTimeoutSeconds?: number;
}

/**
* Represents a {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm fcm_vm}
*/
export class Vm extends cdktf.TerraformResource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "fcm_vm";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a Vm resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the Vm to import
  * @param importFromId The id of the existing Vm that should be imported. Refer to the {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the Vm to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "fcm_vm", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://registry.terraform.io/providers/fcm/fcm/latest/docs/resources/vm fcm_vm} Resource
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options VmConfig
  */
  public constructor(scope: Construct, id: string, config: VmConfig) {
    super(scope, id, {
      terraformResourceType: 'fcm_vm',
      terraformGeneratorMetadata: {
        providerName: 'fcm'
      },
      provider: config.provider,
      dependsOn: config.dependsOn,
      count: config.count,
      lifecycle: config.lifecycle,
      provisioners: config.provisioners,
      connection: config.connection,
      forEach: config.forEach
    });
    this._diskMib = config.diskMib;
    this._domains = config.domains;
    this._image = config.image;
    this._memoryMib = config.memoryMib;
    this._name = config.name;
    this._port = config.port;
    this._running = config.running;
    this._sleepAfter = config.sleepAfter;
    this._swapMib = config.swapMib;
    this._vcpus = config.vcpus;
    this._waitTimeoutSeconds = config.waitTimeoutSeconds;
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // created_at - computed: true, optional: false, required: false
  public get createdAt() {
    return this.getStringAttribute('created_at');
  }

  // disk_mib - computed: true, optional: true, required: false
  private _diskMib?: number; 
  public get diskMib() {
    return this.getNumberAttribute('disk_mib');
  }
  public set diskMib(value: number) {
    this._diskMib = value;
  }
  public resetDiskMib() {
    this._diskMib = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get diskMibInput() {
    return this._diskMib;
  }

  // domains - computed: true, optional: true, required: false
  private _domains?: string[]; 
  public get domains() {
    return cdktf.Fn.tolist(this.getListAttribute('domains'));
  }
  public set domains(value: string[]) {
    this._domains = value;
  }
  public resetDomains() {
    this._domains = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get domainsInput() {
    return this._domains;
  }

  // git_http_url - computed: true, optional: false, required: false
  public get gitHttpUrl() {
    return this.getStringAttribute('git_http_url');
  }

  // git_url - computed: true, optional: false, required: false
  public get gitUrl() {
    return this.getStringAttribute('git_url');
  }

  // hypervisor - computed: true, optional: false, required: false
  public get hypervisor() {
    return this.getStringAttribute('hypervisor');
  }

  // id - computed: true, optional: false, required: false
  public get id() {
    return this.getStringAttribute('id');
  }

  // image - computed: true, optional: true, required: false
  private _image?: string; 
  public get image() {
    return this.getStringAttribute('image');
  }
  public set image(value: string) {
    this._image = value;
  }
  public resetImage() {
    this._image = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get imageInput() {
    return this._image;
  }

  // ip - computed: true, optional: false, required: false
  public get ip() {
    return this.getStringAttribute('ip');
  }

  // mac - computed: true, optional: false, required: false
  public get mac() {
    return this.getStringAttribute('mac');
  }

  // memory_mib - computed: true, optional: true, required: false
  private _memoryMib?: number; 
  public get memoryMib() {
    return this.getNumberAttribute('memory_mib');
  }
  public set memoryMib(value: number) {
    this._memoryMib = value;
  }
  public resetMemoryMib() {
    this._memoryMib = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get memoryMibInput() {
    return this._memoryMib;
  }

  // name - computed: false, optional: false, required: true
  private _name?: string; 
  public get name() {
    return this.getStringAttribute('name');
  }
  public set name(value: string) {
    this._name = value;
  }
  // Temporarily expose input value. Use with caution.
  public get nameInput() {
    return this._name;
  }

  // port - computed: true, optional: true, required: false
  private _port?: number; 
  public get port() {
    return this.getNumberAttribute('port');
  }
  public set port(value: number) {
    this._port = value;
  }
  public resetPort() {
    this._port = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get portInput() {
    return this._port;
  }

  // running - computed: true, optional: true, required: false
  private _running?: boolean | cdktf.IResolvable; 
  public get running() {
    return this.getBooleanAttribute('running');
  }
  public set running(value: boolean | cdktf.IResolvable) {
    this._running = value;
  }
  public resetRunning() {
    this._running = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get runningInput() {
    return this._running;
  }

  // sleep_after - computed: true, optional: true, required: false
  private _sleepAfter?: string; 
  public get sleepAfter() {
    return this.getStringAttribute('sleep_after');
  }
  public set sleepAfter(value: string) {
    this._sleepAfter = value;
  }
  public resetSleepAfter() {
    this._sleepAfter = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get sleepAfterInput() {
    return this._sleepAfter;
  }

  // state - computed: true, optional: false, required: false
  public get state() {
    return this.getStringAttribute('state');
  }

  // swap_mib - computed: true, optional: true, required: false
  private _swapMib?: number; 
  public get swapMib() {
    return this.getNumberAttribute('swap_mib');
  }
  public set swapMib(value: number) {
    this._swapMib = value;
  }
  public resetSwapMib() {
    this._swapMib = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get swapMibInput() {
    return this._swapMib;
  }

  // url - computed: true, optional: false, required: false
  public get url() {
    return this.getStringAttribute('url');
  }

  // vcpus - computed: true, optional: true, required: false
  private _vcpus?: number; 
  public get vcpus() {
    return this.getNumberAttribute('vcpus');
  }
  public set vcpus(value: number) {
    this._vcpus = value;
  }
  public resetVcpus() {
    this._vcpus = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get vcpusInput() {
    return this._vcpus;
  }

  // wait_timeout_seconds - computed: true, optional: true, required: false
  private _waitTimeoutSeconds?: number; 
  public get waitTimeoutSeconds() {
    return this.getNumberAttribute('wait_timeout_seconds');
  }
  public set waitTimeoutSeconds(value: number) {
    this._waitTimeoutSeconds = value;
  }
  public resetWaitTimeoutSeconds() {
    this._waitTimeoutSeconds = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get waitTimeoutSecondsInput() {
    return this._waitTimeoutSeconds;
  }

  // =========
  // SYNTHESIS
  // =========

  protected override synthesizeAttributes(): { [name: string]: any } {
    return {
      disk_mib: cdktf.numberToTerraform(this._diskMib),
      domains: cdktf.listMapper(cdktf.stringToTerraform, false)(this._domains),
      image: cdktf.stringToTerraform(this._image),
      memory_mib: cdktf.numberToTerraform(this._memoryMib),
      name: cdktf.stringToTerraform(this._name),
      port: cdktf.numberToTerraform(this._port),
      running: cdktf.booleanToTerraform(this._running),
      sleep_after: cdktf.stringToTerraform(this._sleepAfter),
      swap_mib: cdktf.numberToTerraform(this._swapMib),
      vcpus: cdktf.numberToTerraform(this._vcpus),
      wait_timeout_seconds: cdktf.numberToTerraform(this._waitTimeoutSeconds),
    };
  }

  protected override synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      disk_mib: {
        value: cdktf.numberToHclTerraform(this._diskMib),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      domains: {
        value: cdktf.listMapperHcl(cdktf.stringToHclTerraform, false)(this._domains),
        isBlock: false,
        type: "set",
        storageClassType: "stringList",
      },
      image: {
        value: cdktf.stringToHclTerraform(this._image),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      memory_mib: {
        value: cdktf.numberToHclTerraform(this._memoryMib),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      name: {
        value: cdktf.stringToHclTerraform(this._name),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      port: {
        value: cdktf.numberToHclTerraform(this._port),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      running: {
        value: cdktf.booleanToHclTerraform(this._running),
        isBlock: false,
        type: "simple",
        storageClassType: "boolean",
      },
      sleep_after: {
        value: cdktf.stringToHclTerraform(this._sleepAfter),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      swap_mib: {
        value: cdktf.numberToHclTerraform(this._swapMib),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      vcpus: {
        value: cdktf.numberToHclTerraform(this._vcpus),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      wait_timeout_seconds: {
        value: cdktf.numberToHclTerraform(this._waitTimeoutSeconds),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
