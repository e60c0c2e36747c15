/**
 * Which subscription the clone, its key look-ups and its live reads use: the one the Azure
 * provider really uses (azure-native:subscriptionId, ARM_SUBSCRIPTION_ID, or the signed-in default
 * that getClientConfig reports), an explicit provider for every other named subscription, and a
 * mismatch reported rather than guessed. Pure rules, then the real program under mocks.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configuredSubscription, inheritedProviderArgs, subscriptionNotes } from "../../components/clone/key-lookups";
import { runPlan } from "../../components/clone/plan";

const root = path.join(__dirname, "..", "..");
const fixtures = path.join(root, "test", "fixtures", "clone");
const ORIGINAL = "6b0d4e2a-1c3f-4d5e-8a9b-0c1d2e3f4a5b"; // Pulumi.prod.yaml's source.subscriptionId
const OTHER = "11111111-2222-3333-4444-555555555555";

describe("configuredSubscription", () => {
  it("stack config, else the environment, else unknown", () => {
    expect(configuredSubscription(ORIGINAL, undefined)).toEqual({ subscriptionId: ORIGINAL, namedBy: "azure-native:subscriptionId" });
    expect(configuredSubscription(undefined, OTHER)).toEqual({ subscriptionId: OTHER, namedBy: "ARM_SUBSCRIPTION_ID" });
    expect(configuredSubscription(ORIGINAL, ORIGINAL.toUpperCase())).toEqual({ subscriptionId: ORIGINAL, namedBy: "azure-native:subscriptionId" });
    expect(configuredSubscription(undefined, " ")).toEqual({});
  });

  it("config and environment naming different subscriptions: one line with both and the fix", () => {
    expect(() => configuredSubscription(ORIGINAL, OTHER)).toThrow(
      new RegExp(`^azure-native:subscriptionId: stack config names subscription ${ORIGINAL} but ARM_SUBSCRIPTION_ID in the environment names ${OTHER}: make them agree \\(\`pulumi config set azure-native:subscriptionId ${OTHER}\`, or unset ARM_SUBSCRIPTION_ID\\)`),
    );
  });
});

describe("subscriptionNotes", () => {
  const base = { originalName: "fleet-hub", readsOriginal: true };
  it("a clone created in another subscription than the original's says both and how to move it", () => {
    expect(subscriptionNotes({ ...base, deploy: OTHER, original: ORIGINAL })).toEqual([
      `subscription: the clone is created in ${OTHER} (the subscription the Azure provider uses), the original fleet-hub is in ${ORIGINAL} and is read there through its own provider; if the clone belongs in ${ORIGINAL}, run \`pulumi config set azure-native:subscriptionId ${ORIGINAL}\``,
    ]);
    expect(subscriptionNotes({ ...base, deploy: ORIGINAL.toUpperCase(), original: ORIGINAL })).toEqual([]);
  });

  it("an original with no subscription is read where the provider is signed in, and that is said", () => {
    expect(subscriptionNotes({ ...base, deploy: OTHER })).toEqual([expect.stringContaining(`names no subscription, so it is read in ${OTHER}`)]);
    expect(subscriptionNotes({ ...base, deploy: OTHER, readsOriginal: false })).toEqual([]);
  });

  it("a provider answer that is not a subscription id (offline) says nothing", () => {
    expect(subscriptionNotes({ ...base, deploy: "[computed]", original: ORIGINAL })).toEqual([]);
  });
});

describe("inheritedProviderArgs", () => {
  it("repeats the stack's azure-native sign-in settings, typed, secrets kept secret", async () => {
    const config: Record<string, string> = { useOidc: "true", clientId: "app-id", clientSecret: "c2VjcmV0", auxiliaryTenantIds: '["t1","t2"]', location: "westeurope" };
    const args = inheritedProviderArgs((k) => config[k], (k) => k === "clientSecret");
    expect(Object.keys(args).sort()).toEqual(["auxiliaryTenantIds", "clientId", "clientSecret", "useOidc"]); // location is per resource, not sign-in
    expect(args).toMatchObject({ useOidc: true, clientId: "app-id", auxiliaryTenantIds: ["t1", "t2"] });
    expect(pulumi.Output.isInstance(args.clientSecret)).toBe(true);
    expect(await pulumi.isSecret(args.clientSecret as pulumi.Output<string>)).toBe(true);
  });
});

describe("the program under mocks", () => {
  const saved = process.env.ARM_SUBSCRIPTION_ID;
  let dir: string;
  beforeAll(() => {
    // The plan runs in a child that inherits this environment: start from none.
    delete process.env.ARM_SUBSCRIPTION_ID;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hubclone-subscription-"));
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.ARM_SUBSCRIPTION_ID;
    else process.env.ARM_SUBSCRIPTION_ID = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const stackFile = (name: string, extra: string[]) => {
    const file = path.join(dir, `Pulumi.${name}.yaml`);
    fs.writeFileSync(
      file,
      [
        "config:",
        ...extra,
        "  iothub-clone:source:",
        `    template: ${path.join(root, "examples", "fleet-hub-export.json")}`,
        `    parameters: ${path.join(root, "examples", "fleet-hub.parameters.json")}`,
        "    resourceGroup: rg-fleet-weu",
        `    subscriptionId: ${ORIGINAL}`,
        "  iothub-clone:clone:",
        "    resourceGroup: rg-fleet-neu",
        "    location: northeurope",
        "",
      ].join("\n"),
    );
    return file;
  };

  it("signed in elsewhere: the original's keys are read through a provider for its subscription, and the plan says where the clone goes", async () => {
    const r = await runPlan({ stack: "prod", subscription: OTHER });
    expect(r.errors).toEqual([]);
    const providers = r.resources.filter((x) => x.type === "pulumi:providers:azure-native");
    expect(providers.map((p) => p.inputs.subscriptionId)).toEqual([ORIGINAL]);
    // The device copy reads the original's keys (listKeys) in the original's subscription.
    expect(r.invokes).toContainEqual({ token: "azure-native:iothub:listIotHubResourceKeys", provider: providers[0].name });
    expect(r.warnings).toContainEqual(expect.stringMatching(new RegExp(`^subscription: the clone is created in ${OTHER} .* the original contoso-fleet-hub is in ${ORIGINAL}`)));
  });

  it("signed in to the original's subscription: no warning, the look-ups still name it", async () => {
    const r = await runPlan({ stack: "prod", subscription: ORIGINAL });
    expect(r.errors).toEqual([]);
    expect(r.warnings.filter((w) => w.startsWith("subscription:"))).toEqual([]);
    expect(r.invokes).toContainEqual({ token: "azure-native:iothub:listIotHubResourceKeys", provider: `azure-${ORIGINAL}` });
  });

  it("azure-native:subscriptionId names the original's subscription: the default provider reads it, no extra provider", async () => {
    const r = await runPlan({ stackFile: stackFile("same", [`  azure-native:subscriptionId: ${ORIGINAL}`]) });
    expect(r.errors).toEqual([]);
    expect(r.resources.filter((x) => x.type === "pulumi:providers:azure-native")).toEqual([]);
    expect(r.invokes).toContainEqual({ token: "azure-native:iothub:listIotHubResourceKeys" });
    expect(r.warnings.filter((w) => w.startsWith("subscription:"))).toEqual([]);
  });

  it("a provider for another subscription signs in as the stack's default provider does", async () => {
    const r = await runPlan({ stackFile: stackFile("oidc", [`  azure-native:subscriptionId: ${OTHER}`, "  azure-native:useOidc: true", "  azure-native:clientId: 0f0f0f0f-aaaa-bbbb-cccc-000000000001"]) });
    expect(r.errors).toEqual([]);
    const [provider] = r.resources.filter((x) => x.type === "pulumi:providers:azure-native");
    // azure-native's Provider sends its settings as strings and marks clientId secret itself.
    expect(provider.inputs).toMatchObject({ subscriptionId: ORIGINAL, useOidc: "true", clientId: "[secret]" });
    expect(r.warnings).toContainEqual(expect.stringMatching(/^subscription: the clone is created in 11111111-/));
  });

  it("stack config and ARM_SUBSCRIPTION_ID disagree: one line naming both and the fix, nothing planned", async () => {
    const file = stackFile("mismatch", [`  azure-native:subscriptionId: ${ORIGINAL}`]);
    process.env.ARM_SUBSCRIPTION_ID = OTHER;
    let r;
    try {
      r = await runPlan({ stackFile: file });
    } finally {
      delete process.env.ARM_SUBSCRIPTION_ID;
    }
    expect(r.resources).toEqual([]);
    expect(r.errors).toEqual([expect.stringMatching(new RegExp(`^azure-native:subscriptionId: stack config names subscription ${ORIGINAL} but ARM_SUBSCRIPTION_ID in the environment names ${OTHER}: make them agree`))]);
  });

  it("a live source is read (GET) in the subscription the config names for it", async () => {
    const r = await runPlan({ stackFile: path.join(fixtures, "Pulumi.live.yaml"), liveSourceFile: path.join(fixtures, "arm-get-body.json"), subscription: OTHER });
    expect(r.errors).toEqual([]);
    expect(r.invokes).toContainEqual({ token: "azure-native:iothub:getIotHubResource", provider: "azure-aaaaaaaa-1111-2222-3333-444444444444" });
  });
});
