/**
 * Stack configuration of the clone program (`iothub-clone:*` keys), parsed with zod into one
 * typed `CloneConfig`. `parseCloneConfig` is pure (tests feed it plain objects); `readCloneConfig`
 * reads the Pulumi stack config and remembers which keys were secret.
 *
 * Ranges (partitions, retention, name rules, ...) are checked by `clone/validation.ts`, which
 * knows the original hub; zod only checks shapes and types here.
 */
import { z } from "zod";
import { ValidationError, type Finding } from "./errors";

export const PROJECT = "iothub-clone";

const str = z.string().min(1);

const sourceSchema = z
  .object({
    /** Template, export, ARM body or state-export file of the original hub. */
    template: str.optional(),
    /** ARM parameters file for the template. */
    parameters: str.optional(),
    /** Template parameter values (NAME: VALUE), secret when the stack key is secret. */
    param: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    /** Resource group of the original (deployment context for `resourceGroup()`, key look-ups, live source). */
    resourceGroup: str.optional(),
    /** Name of the original hub (live source, or to pick one hub out of a multi-hub template). */
    name: str.optional(),
    subscriptionId: str.optional(),
    /** Location of the original's resource group (template expressions `resourceGroup().location`). */
    location: str.optional(),
  })
  .strict();

// Azure accepts SKU names in any case; so do we (`--sku s2`), with the valid names in the error.
const skuSchema = z.preprocess(
  (v) => (typeof v === "string" ? v.toUpperCase() : v),
  z.enum(["F1", "B1", "B2", "B3", "S1", "S2", "S3"], { message: "must be one of F1, B1, B2, B3, S1, S2, S3" }),
);

const cloneSchema = z
  .object({
    name: str.optional(),
    resourceGroup: str.optional(),
    location: str.optional(),
    sku: skuSchema.optional(),
    units: z.number().int().optional(),
    partitions: z.number().int().optional(),
    retentionDays: z.number().int().optional(),
    tags: z.record(z.string(), z.string()).optional(),
    consumerGroups: z.array(z.string()).optional(),
    /** Carry the original's custom shared access policy keys over (default: the clone gets new keys). */
    keepPolicyKeys: z.boolean().optional(),
    /**
     * `false`: the clone has no file upload (no storageEndpoints.$default, notifications off), on
     * purpose. Needed when a template's file-upload parameters are not supplied.
     */
    fileUpload: z.boolean().optional(),
    /**
     * Routes of device lifecycle / twin-change events to an endpoint the clone shares with the
     * original: created disabled (default) so the device import does not flood the original's
     * consumers; `enabled` at cutover.
     */
    sharedEventRoutes: z.enum(["disabledUntilCutover", "enabled"]).optional(),
  })
  .strict();

const keySourceSchema = z
  .object({
    subscriptionId: str.optional(),
    resourceGroup: str.optional(),
    /** Where the Service Bus / Event Hubs authorization rule lives. */
    scope: z.enum(["entity", "namespace"]).optional(),
    ruleName: str.optional(),
  })
  .strict();

const endpointSchema = z
  .object({
    /** Create a new routing resource in the clone's region instead of keeping the original's. */
    relocate: z.boolean().optional(),
    /** Connection string to use (secret); for Cosmos DB use primaryKey/secondaryKey. */
    connectionString: str.optional(),
    primaryKey: str.optional(),
    secondaryKey: str.optional(),
    /** Coordinates for the deploy-time key look-up when the source lacks them. */
    keySource: keySourceSchema.optional(),
    /**
     * A relocated Event Hubs endpoint only: the new event hub's partitions (default 4). The hub's
     * template does not say how many the original has; consumers and partition keys depend on it.
     */
    partitionCount: z.number().int().min(1).max(1024).optional(),
  })
  .strict();

const identitySchema = z
  .object({
    /** Name of the user-assigned identity created for identity-based endpoints. */
    name: str.optional(),
    /** Keep the original's user-assigned identities attached to the clone (default true). */
    reuseOriginal: z.boolean().optional(),
  })
  .strict();

const certificateSchema = z
  .object({
    /** PEM or base64 body, when the source only listed the certificate's name. */
    certificate: str.optional(),
    isVerified: z.boolean().optional(),
    /** Leave this certificate out of the clone. */
    skip: z.boolean().optional(),
  })
  .strict();

const devicesSchema = z
  .object({
    enabled: z.boolean().default(true),
    importMode: z.enum(["createOrUpdate", "create"]).default("createOrUpdate"),
    filter: z
      .object({ deviceIds: z.array(str).optional(), query: str.optional() })
      .strict()
      .optional(),
    includeConfigurations: z.boolean().default(true),
    /** Bump to run a delta sync on the next `pulumi up`. */
    syncGeneration: z.number().int().min(1).default(1),
    deleteMissing: z.boolean().default(false),
    deleteDevicesOnDestroy: z.boolean().default(false),
    storageAuthenticationType: z.enum(["keyBased", "identityBased"]).default("keyBased"),
    /**
     * The device copy's own deadline per `pulumi up` (dynamic providers get no customTimeouts). 240
     * keeps a run inside a GitHub-hosted runner's job limit of 6 h (GitHub Actions docs, "Usage
     * limits": 6 h per job on GitHub-hosted runners, 5 days on self-hosted ones) with 2 h left for
     * install, tests and the hub; a copy past it stops between steps and the next `pulumi up` resumes.
     */
    timeoutMinutes: z.number().int().min(1).default(240),
  })
  .strict();

const attachmentSwitch = z.object({ enabled: z.boolean().default(true) }).strict();

/** What is attached to the original from outside (components/clone/attachments-plan.ts); each kind on by default. */
const attachmentsSchema = z
  .object({
    eventGrid: z
      .object({
        enabled: z.boolean().default(true),
        /** WebHook subscriptions: the full endpoint URL per subscription name (secret: ARM never returns it). */
        webhookEndpointUrls: z.record(z.string(), str).optional(),
      })
      .strict()
      .prefault({}),
    diagnosticSettings: attachmentSwitch.prefault({}),
    privateEndpoints: z
      .object({
        enabled: z.boolean().default(true),
        /** ARM id of the subnet, in the clone's region, for the clone's private endpoints. */
        subnetId: str.optional(),
        /** Private DNS zones for the clone's endpoints (default: the original's zones, which are global). */
        privateDnsZoneIds: z.array(str).optional(),
      })
      .strict()
      .prefault({}),
    roleAssignments: attachmentSwitch.prefault({}),
  })
  .strict();

export const cloneConfigSchema = z
  .object({
    source: sourceSchema,
    clone: cloneSchema.default({}),
    endpoints: z.record(z.string(), endpointSchema).default({}),
    identity: identitySchema.default({}),
    certificates: z.record(z.string(), certificateSchema).default({}),
    devices: devicesSchema.default(devicesSchema.parse({})),
    attachments: attachmentsSchema.default(attachmentsSchema.parse({})),
  })
  .strict();

export type CloneConfig = z.infer<typeof cloneConfigSchema>;
export type EndpointConfig = z.infer<typeof endpointSchema>;
export type DevicesConfig = z.infer<typeof devicesSchema>;
export type AttachmentsConfig = z.infer<typeof attachmentsSchema>;

/** The config keys the program reads (each is one `iothub-clone:<key>` stack value). */
export const CONFIG_KEYS = ["source", "clone", "endpoints", "identity", "certificates", "devices", "attachments"] as const;

function issueLine(issue: z.core.$ZodIssue): Finding {
  const path = issue.path.map(String).join(".");
  const field = `${PROJECT}:${path || "(root)"}`;
  let fix = issue.message;
  if (issue.code === "unrecognized_keys") fix = `unknown key(s) ${issue.keys.join(", ")}: remove or fix the spelling (see docs/clone.md)`;
  return { field, message: fix };
}

/** Validates raw config values (plain objects, as `pulumi config` stores them). Throws ValidationError. */
export function parseCloneConfig(raw: Record<string, unknown>): CloneConfig {
  const input: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) input[k] = v;
  if (input.source === undefined) {
    throw new ValidationError([
      { field: `${PROJECT}:source`, message: "missing: set source.template (a template/export file) or source.resourceGroup + source.name (the live hub)" },
    ]);
  }
  const res = cloneConfigSchema.safeParse(input);
  if (!res.success) throw new ValidationError(res.error.issues.map(issueLine));
  const cfg = res.data;
  const findings: Finding[] = [];
  if (!cfg.source.template && !(cfg.source.resourceGroup && cfg.source.name)) {
    findings.push({
      field: `${PROJECT}:source`,
      message: "set source.template (a template/export file) or source.resourceGroup + source.name (read the live hub)",
    });
  }
  if (cfg.devices.filter?.deviceIds && cfg.devices.filter.query) {
    findings.push({ field: `${PROJECT}:devices.filter`, message: "give deviceIds or query, not both" });
  }
  if (findings.length) throw new ValidationError(findings);
  return cfg;
}

/** Credential fields a stack may carry; each must be stored with `pulumi config set --secret`. */
const CREDENTIAL_FIELDS = ["connectionString", "primaryKey", "secondaryKey"] as const;

/**
 * Keys pasted into stack config in clear text: refused, because a plain config value sits
 * unencrypted in `Pulumi.<stack>.yaml` (and in git for GitOps). Pure, for tests.
 */
export function plainTextCredentialFindings(config: CloneConfig, secretKeys: Set<string>): Finding[] {
  const findings: Finding[] = [];
  if (!secretKeys.has("attachments"))
    for (const sub of Object.keys(config.attachments?.eventGrid.webhookEndpointUrls ?? {}))
      findings.push({
        field: `${PROJECT}:attachments.eventGrid.webhookEndpointUrls.${sub}`,
        message: `is stored in clear text (a webhook URL carries its key): set it with \`pulumi config set --path --secret '${PROJECT}:attachments.eventGrid.webhookEndpointUrls.${sub}' <url>\``,
      });
  if (secretKeys.has("endpoints")) return findings;
  for (const [name, ep] of Object.entries(config.endpoints ?? {})) {
    for (const field of CREDENTIAL_FIELDS) {
      if ((ep as Record<string, unknown>)[field]) {
        findings.push({
          field: `${PROJECT}:endpoints.${name}.${field}`,
          message: `is stored in clear text: set it with \`pulumi config set --path --secret '${PROJECT}:endpoints.${name}.${field}' <value>\``,
        });
      }
    }
  }
  return findings;
}

/** Reads the stack config through Pulumi. `secretKeys` lists the top-level keys stored as secrets. */
export function readCloneConfig(): { config: CloneConfig; secretKeys: Set<string> } {
  // Imported lazily so the pure parser above stays usable without the Pulumi runtime.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
  // `isConfigSecret` is exported by the runtime but missing from its typings.
  const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (k: string) => boolean };
  const cfg = new pulumi.Config(PROJECT);
  const raw: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  for (const key of CONFIG_KEYS) {
    let value: unknown;
    try {
      value = cfg.getObject(key);
    } catch {
      throw new ValidationError([{ field: `${PROJECT}:${key}`, message: "is not valid JSON/YAML object: set it with `pulumi config set --path`" }]);
    }
    raw[key] = value;
    if (runtimeConfig.isConfigSecret?.(`${PROJECT}:${key}`)) secretKeys.add(key);
  }
  const config = parseCloneConfig(raw);
  const plain = plainTextCredentialFindings(config, secretKeys);
  if (plain.length) throw new ValidationError(plain);
  return { config, secretKeys };
}
