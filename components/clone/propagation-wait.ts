/**
 * A pause between granting the routing identity its data roles and creating the hub. Azure role
 * assignments take minutes to propagate, and IoT Hub validates identity-based endpoints when the
 * hub is created: without the pause the first `pulumi up` tends to fail with an endpoint
 * authorization error. azure-native has no wait resource and the project avoids a third-party
 * provider plugin for a sleep, so this is a minimal dynamic resource (it captures nothing: the
 * duration is an input, and it creates nothing in Azure).
 */
import * as pulumi from "@pulumi/pulumi";

export interface PropagationWaitArgs {
  /** Seconds to wait on create (and again when the grants it follows change). */
  seconds: number;
  /** Anything whose change should trigger a new wait (the role assignment ids). */
  after: pulumi.Input<pulumi.Input<string>[]>;
}

const waitProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: { seconds: number }) {
    console.log(`waiting ${inputs.seconds}s for role assignments to propagate before the hub validates its endpoints`);
    await new Promise((resolve) => setTimeout(resolve, inputs.seconds * 1000));
    return { id: `wait-${Date.now()}`, outs: inputs };
  },
  async diff(_id: string, olds: { after?: string[] }, news: { after?: string[] }) {
    const changed = JSON.stringify(olds.after ?? []) !== JSON.stringify(news.after ?? []);
    return { changes: changed, replaces: changed ? ["after"] : [] };
  },
};

export class PropagationWait extends pulumi.dynamic.Resource {
  constructor(name: string, args: PropagationWaitArgs, opts?: pulumi.CustomResourceOptions) {
    super(waitProvider, name, { seconds: args.seconds, after: args.after }, opts, "hubclone", "PropagationWait");
  }
}
