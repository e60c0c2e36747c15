/**
 * Every template of the shared corpus either plans or fails with one actionable line per
 * problem (never a crash or a stack trace). Reads ../shared/corpus when present.
 */
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { runPlan } from "../../components/clone/plan";

const dir = path.resolve(__dirname, "..", "..", "..", "shared", "corpus", "arm-templates");
const present = fs.existsSync(dir);
if (!present) console.log(`corpus tests skipped: ${dir} not found`);

describe.skipIf(!present)("corpus templates", () => {
  const files = present ? fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort() : [];

  it("has templates to plan", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    it(`${file}: plans, or fails with one-line actionable errors`, async () => {
      // The original's coordinates a user would give for an authored template.
      const options = {
        template: path.join(dir, file),
        resourceGroup: "clone-rg",
        sourceResourceGroup: "source-rg",
        sourceSubscription: "00000000-0000-0000-0000-000000000001",
        sourceLocation: "westus",
      };
      const r = await runPlan(options);
      if (r.errors.length === 0) {
        const hubs = r.resources.filter((x) => x.type === "azure-native:iothub:IotHubResource");
        expect(hubs).toHaveLength(1);
        expect(hubs[0].inputs.resourceGroupName).toBe("clone-rg");
        console.log(`${file}: planned ${hubs[0].inputs.resourceName} (${r.resources.length} resources)`);
      } else {
        expect(r.resources).toEqual([]);
        for (const e of r.errors) {
          expect(e).not.toContain("\n");
          expect(e).not.toMatch(/\bat \S+ \(/); // no stack frame
          expect(e).toMatch(/^[^:]+: .+/); // names a field, then says what to do
        }
        console.log(`${file}: ${r.errors.join(" | ")}`);
        // Actionable: doing what a missing-parameter error says moves the plan past that error.
        const wanted = /supply it with --param (\w+)=VALUE/.exec(r.errors[0])?.[1];
        if (wanted) {
          const again = await runPlan({ ...options, param: [`${wanted}=hub${wanted.length}`] });
          expect(again.errors.some((e) => e.includes(`parameter '${wanted}'`))).toBe(false);
          console.log(`${file} with --param ${wanted}=…: ${again.errors.length ? again.errors.join(" | ") : "planned"}`);
        }
      }
    });
  }
});
