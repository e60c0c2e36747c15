/**
 * Our snapshot of the original hub (`hubclone snapshot`): what `pulumi up` needs and an ARM
 * export leaves out (consumer groups, certificate bodies), captured once so later runs can plan
 * without reading the live hub. The operations area writes it; `readHub` reads it.
 */
import { z } from "zod";

/** The hub as ARM `GET` returns it, keys masked. Loose on purpose: ARM adds fields over time. */
const armHubBody = z
  .object({
    name: z.string().min(1),
    type: z.string().optional(),
    location: z.string().min(1),
    id: z.string().optional(),
    sku: z.object({ name: z.string(), capacity: z.number().optional(), tier: z.string().optional() }).passthrough(),
    properties: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

export const snapshotCertificateSchema = z.object({
  name: z.string().min(1),
  /** PEM or base64 body of the CA certificate (public material, not a secret). */
  certificate: z.string().optional(),
  isVerified: z.boolean().optional(),
});

export const snapshotSchema = z.object({
  snapshotVersion: z.literal(1),
  /** ISO 8601 time the snapshot was taken. */
  capturedAt: z.iso.datetime({ offset: true }),
  hub: armHubBody,
  /** Consumer groups per built-in event hub endpoint (normally `events`), `$Default` included or not. */
  consumerGroups: z.record(z.string(), z.array(z.string())),
  certificates: z.array(snapshotCertificateSchema),
  /**
   * What is attached to the hub from outside it, as ARM listed it (see ./attachments.ts
   * `ArmAttachments`). Optional: snapshots taken before it existed stay readable (then unknown).
   */
  attachments: z
    .object({
      systemTopics: z.array(z.object({ name: z.string(), properties: z.record(z.string(), z.unknown()), eventSubscriptions: z.array(z.object({ name: z.string(), properties: z.record(z.string(), z.unknown()) }).passthrough()) }).passthrough()),
      eventSubscriptions: z.array(z.object({ name: z.string(), properties: z.record(z.string(), z.unknown()) }).passthrough()),
      diagnosticSettings: z.array(z.object({ name: z.string(), properties: z.record(z.string(), z.unknown()) }).passthrough()),
      privateEndpoints: z.array(z.object({ name: z.string(), properties: z.record(z.string(), z.unknown()), privateDnsZoneGroups: z.array(z.object({ name: z.string(), properties: z.record(z.string(), z.unknown()) }).passthrough()) }).passthrough()),
      roleAssignments: z.array(z.object({ name: z.string(), properties: z.record(z.string(), z.unknown()) }).passthrough()),
    })
    .optional(),
  /** Things the ARM export would have missed and the snapshot captured (for the plan's summary). */
  missedByExport: z.array(z.string()),
});

export type HubSnapshot = z.infer<typeof snapshotSchema>;
export type SnapshotCertificate = z.infer<typeof snapshotCertificateSchema>;

/** True when the document claims to be a snapshot (validated separately, for a precise error). */
export function looksLikeSnapshot(document: unknown): boolean {
  return !!document && typeof document === "object" && "snapshotVersion" in (document as object);
}
