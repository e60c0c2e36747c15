/**
 * Nested edge hierarchies when the export carries no parentScopes (service-behaviours.md §6: the
 * service did not export them; an edge device's line has only its own deviceScope). The original's
 * export is rewritten without parentScopes before the transform reads it; the clone must still get
 * gw-top → gw-mid → gw-low and the leaves under them.
 */
import { describe, expect, it } from "vitest";
import { copyDevices } from "../../components/devices";
import { blobServiceClient, createStrictHub, createTestHub } from "../support/local-hub";
import { copiedView, copyOptions, logSink, seedEveryKind, uniqueContainer } from "./engine-fixtures";

describe("nested edge devices from an export without parentScopes", () => {
  it("takes each edge child's parent from the original's registry and rebuilds the hierarchy on the clone", async () => {
    const source = await createTestHub("nest-src");
    const clone = await createTestHub("nest-cln");
    await seedEveryKind(source);
    const container = uniqueContainer();
    const sink = logSink();
    let stripped = 0;
    const result = await copyDevices(
      copyOptions(source, clone, container, "nest", {
        log: sink.log,
        // The verifier compares the original's export with the clone's; here only the original's
        // lost its parentScopes (the local hub's export keeps them), so the proof is the registry view below.
        verify: false,
        hooks: {
          afterCheckpoint: async (phase) => {
            if (phase !== "transform" || stripped > 0) return;
            const blob = blobServiceClient().getContainerClient(container).getBlockBlobClient("runs/nest/g1/source/devices.txt");
            const lines = (await blob.downloadToBuffer()).toString("utf8").split("\n").filter(Boolean);
            const out = lines.map((l) => {
              const o = JSON.parse(l) as Record<string, unknown>;
              if ("parentScopes" in o) stripped++;
              delete o.parentScopes;
              return JSON.stringify(o);
            });
            const text = out.join("\n") + "\n";
            await blob.upload(text, Buffer.byteLength(text));
          },
        },
      }),
    );
    expect(stripped).toBeGreaterThan(0);
    expect(result).toMatchObject({ failed: 0 });
    const view = await copiedView(clone);
    expect(view["gw-mid"]).toMatchObject({ parent: "gw-top" });
    expect(view["gw-low"]).toMatchObject({ parent: "gw-mid" });
    expect(view["leaf-low"]).toMatchObject({ parent: "gw-low" });
    expect(view).toEqual(await copiedView(source));
    expect(sink.lines.some((l) => /2 edge device\(s\) under edge devices take their parent from the original's registry/.test(l))).toBe(true);
  });

  it("on the Azure-strict local hub (exports without parentScopes, PascalCase configurations): every kind copied, hierarchy and configurations included, and verified", async () => {
    const source = await createStrictHub("snest-src");
    const clone = await createStrictHub("snest-cln");
    await seedEveryKind(source);
    const result = await copyDevices(copyOptions(source, clone, uniqueContainer(), "snest"));
    expect(result).toMatchObject({ failed: 0, mismatchCount: 0, configurations: { exported: 3, imported: 3, failed: 0 } });
    const view = await copiedView(clone);
    expect(view["gw-low"]).toMatchObject({ parent: "gw-mid" });
    expect(view).toEqual(await copiedView(source));
  });
});
