/**
 * The hub waits for its routing identity's role assignments before it is created: IoT Hub
 * validates identity-based endpoints on create, and Azure RBAC changes "can take up to 10
 * minutes" to take effect (learn.microsoft.com/azure/role-based-access-control/troubleshooting,
 * "Symptom - Role assignment changes are not being detected").
 *
 * Not a fixed sleep: each assignment is polled through Resource Manager until it is readable on
 * `confirmations` consecutive reads (reads may hit replicas that lag), bounded by a deadline, and
 * a deadline that runs out fails with one line naming what is missing and what to do. What cannot
 * be polled from outside Azure is the data plane's own view of the grant (only the identity
 * itself could test it), so a hub create that still meets an authorization error is retried by
 * running `pulumi up` again: the grants and this wait are then already done.
 *
 * A dynamic resource (azure-native has no wait resource; the project avoids a provider plugin for
 * this): it captures nothing, builds its ARM client inside `create`, and creates nothing in Azure.
 */
import * as pulumi from "@pulumi/pulumi";

export interface PropagationWaitArgs {
  /** The role assignment ids (Azure RBAC, or Cosmos DB SQL role assignments) to wait for. */
  after: pulumi.Input<pulumi.Input<string>[]>;
  /** Give up after this long (default 600 s: the documented propagation bound). */
  deadlineSeconds?: number;
  /** Seconds between polls (default 10). */
  intervalSeconds?: number;
  /** Consecutive successful reads required per assignment (default 3). */
  confirmations?: number;
}

export interface PollDeps {
  /** HTTP status of a GET of the assignment (200 visible, 404 not yet). */
  status(id: string): Promise<number>;
  now(): number;
  sleep(ms: number): Promise<void>;
  log?(line: string): void;
}

/** The name part of an assignment id, for messages (ids carry subscription ids, not secrets). */
function shortId(id: string): string {
  const m = /\/(roleAssignments|sqlRoleAssignments)\/([^/]+)$/i.exec(id);
  return m ? `${m[1]}/${m[2]}` : id;
}

/** Polls until every assignment is readable `confirmations` times in a row, or the deadline passes. */
export async function waitUntilVisible(
  ids: string[],
  opts: { deadlineSeconds: number; intervalSeconds: number; confirmations: number },
  deps: PollDeps,
): Promise<{ polls: number }> {
  const streak = new Map(ids.map((id) => [id, 0]));
  const end = deps.now() + opts.deadlineSeconds * 1000;
  let polls = 0;
  for (;;) {
    for (const id of ids) {
      if ((streak.get(id) ?? 0) >= opts.confirmations) continue;
      const status = await deps.status(id);
      polls++;
      if (status === 200) streak.set(id, (streak.get(id) ?? 0) + 1);
      else if (status === 404) streak.set(id, 0);
      else if (status === 401 || status === 403) {
        throw new Error(
          `role assignment ${shortId(id)}: reading it returned ${status}: the deploying identity needs Microsoft.Authorization/roleAssignments/read on its scope (for example Reader) so the hub can wait for its grants; then run pulumi up again`,
        );
      } else streak.set(id, 0); // 429/5xx: transient, poll again
    }
    const missing = ids.filter((id) => (streak.get(id) ?? 0) < opts.confirmations);
    if (!missing.length) return { polls };
    if (deps.now() + opts.intervalSeconds * 1000 > end) {
      throw new Error(
        `role assignments not confirmed after ${opts.deadlineSeconds}s (${missing.map(shortId).join(", ")}): Azure RBAC is propagating slower than documented; run pulumi up again to resume (the hub is created only after its grants), or check the assignments in the portal`,
      );
    }
    deps.log?.(`waiting for ${missing.length} role assignment(s) to propagate before the hub validates its endpoints`);
    await deps.sleep(opts.intervalSeconds * 1000);
  }
}

interface WaitInputs {
  after: string[];
  deadlineSeconds: number;
  intervalSeconds: number;
  confirmations: number;
}

const waitProvider: pulumi.dynamic.ResourceProvider = {
  async create(inputs: WaitInputs) {
    // Required here: the provider is serialized and runs in the engine's process.
    const { DefaultAzureCredential } = require("@azure/identity") as typeof import("@azure/identity");
    const credential = new DefaultAzureCredential();
    const arm = process.env.AZURE_RESOURCE_MANAGER_ENDPOINT ?? "https://management.azure.com";
    const status = async (id: string) => {
      const token = await credential.getToken(`${arm}/.default`);
      const apiVersion = /\/sqlRoleAssignments\//i.test(id) ? "2023-04-15" : "2022-04-01";
      const res = await fetch(`${arm}${id}?api-version=${apiVersion}`, { headers: { authorization: `Bearer ${token.token}` } });
      return res.status;
    };
    const { polls } = await waitUntilVisible(inputs.after, inputs, {
      status,
      now: () => Date.now(),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      log: (l) => console.log(l),
    });
    return { id: `wait-${Date.now()}`, outs: { ...inputs, polls } };
  },
  async diff(_id: string, olds: { after?: string[] }, news: { after?: string[] }) {
    const changed = JSON.stringify(olds.after ?? []) !== JSON.stringify(news.after ?? []);
    return { changes: changed, replaces: changed ? ["after"] : [] };
  },
};

export class PropagationWait extends pulumi.dynamic.Resource {
  constructor(name: string, args: PropagationWaitArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      waitProvider,
      name,
      { after: args.after, deadlineSeconds: args.deadlineSeconds ?? 600, intervalSeconds: args.intervalSeconds ?? 10, confirmations: args.confirmations ?? 3 },
      opts,
      "hubclone",
      "PropagationWait",
    );
  }
}
