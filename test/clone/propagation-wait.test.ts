/**
 * The hub's wait for its role assignments polls Resource Manager with a bounded deadline (no fixed
 * sleep). A fake clock and a scripted GET: no real time passes, nothing is timed.
 */
import { describe, expect, it } from "vitest";
import { waitUntilVisible, type PollDeps } from "../../components/clone/propagation-wait";

const A = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a/providers/Microsoft.Authorization/roleAssignments/1111";
const B = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DocumentDB/databaseAccounts/c/sqlRoleAssignments/2222";
const opts = { deadlineSeconds: 600, intervalSeconds: 10, confirmations: 3 };

/** GET statuses per id, in order (the last one repeats); a clock that advances only by sleep. */
function scripted(script: Record<string, number[]>): PollDeps & { calls: string[]; slept: number } {
  let t = 0;
  const calls: string[] = [];
  const deps = {
    calls,
    slept: 0,
    async status(id: string) {
      calls.push(id);
      const s = script[id];
      return s.length > 1 ? s.shift()! : s[0];
    },
    now: () => t,
    async sleep(ms: number) {
      t += ms;
      deps.slept += ms;
    },
  };
  return deps;
}

describe("role propagation: poll, not a fixed wait", () => {
  it("returns once each assignment was read 3 times in a row, polling only the unconfirmed", async () => {
    const d = scripted({ [A]: [404, 404, 200], [B]: [200] });
    await waitUntilVisible([A, B], opts, d);
    // A: 404, 404, then 200 ×3; B: 200 ×3 → both confirmed after 5 rounds (4 sleeps).
    expect(d.calls.filter((c) => c === A)).toHaveLength(5);
    expect(d.calls.filter((c) => c === B)).toHaveLength(3);
    expect(d.slept).toBe(40_000);
  });

  it("a read that lags (200, 404, 200…) restarts that assignment's streak", async () => {
    const d = scripted({ [A]: [200, 200, 404, 200] });
    await waitUntilVisible([A], opts, d);
    expect(d.calls).toHaveLength(6);
  });

  it("throttling and server errors are polled again, not fatal", async () => {
    const d = scripted({ [A]: [429, 503, 200] });
    await expect(waitUntilVisible([A], opts, d)).resolves.toEqual({ polls: 5 });
  });

  it("the deadline runs out: one line naming the assignment and what to do", async () => {
    const d = scripted({ [A]: [200], [B]: [404] });
    await expect(waitUntilVisible([A, B], opts, d)).rejects.toThrow(
      "role assignments not confirmed after 600s (sqlRoleAssignments/2222): Azure RBAC is propagating slower than documented; run pulumi up again to resume (the hub is created only after its grants), or check the assignments in the portal",
    );
    expect(d.slept).toBeLessThanOrEqual(600_000);
  });

  it("no permission to read the assignments: says which permission, at once", async () => {
    const d = scripted({ [A]: [403] });
    await expect(waitUntilVisible([A], opts, d)).rejects.toThrow(/roleAssignments\/1111: reading it returned 403: the deploying identity needs Microsoft.Authorization\/roleAssignments\/read/);
    expect(d.slept).toBe(0);
  });
});
