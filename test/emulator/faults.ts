/**
 * Per-hub pacing and fault injection: the SKU throttles (429 ThrottlingException with Retry-After),
 * and injected failures or delays per operation group, configured through the admin API.
 */
import { HubError, hubError } from "./errors";
import type { FaultRule, HubOptions, OperationGroup, ThrottleGroup } from "./hub";
import { rulesOf } from "./profile";

/** Per-unit-per-minute limits from the service's quota table (twin reads/updates are per second on S1: 100/s, 50/s). */
const SKU_LIMITS: Record<"tier1" | "tier2" | "tier3", Record<ThrottleGroup, number>> = {
  tier1: { registry: 100, jobs: 100, query: 20, twinRead: 6000, twinUpdate: 3000, configurations: 20 },
  tier2: { registry: 100, jobs: 100, query: 20, twinRead: 6000, twinUpdate: 3000, configurations: 20 },
  tier3: { registry: 5000, jobs: 5000, query: 1000, twinRead: 6000, twinUpdate: 3000, configurations: 20 },
};

function tierOf(sku: string | undefined): keyof typeof SKU_LIMITS {
  const s = (sku ?? "S1").toUpperCase();
  if (s === "S3" || s === "B3") return "tier3";
  if (s === "S2" || s === "B2") return "tier2";
  return "tier1";
}

export function limitPerMinute(options: HubOptions, group: ThrottleGroup): number | undefined {
  const override = options.throttleOverrides?.[group];
  if (override !== undefined) return override;
  const rules = rulesOf(options);
  if (!rules.throttling) return undefined;
  const units = Math.max(1, options.units ?? 1);
  // Twin reads/updates are per-hub rates on S1 that grow with tier, not per unit: keep them flat.
  const base = SKU_LIMITS[tierOf(options.sku)][group];
  // The strict profile's time scale speeds the allowance up in proportion (profile.ts).
  return (group === "twinRead" || group === "twinUpdate" ? base : base * units) * (rules.strict ? rules.timeScale : 1);
}

/** Token bucket refilled continuously: a minute's allowance can be spent in a burst, then calls wait. */
class Bucket {
  tokens: number;
  updated = Date.now();
  constructor(public perMinute: number) {
    this.tokens = perMinute;
  }
  take(cost: number): number {
    const now = Date.now();
    this.tokens = Math.min(this.perMinute, this.tokens + ((now - this.updated) / 60000) * this.perMinute);
    this.updated = now;
    if (this.tokens >= cost) {
      this.tokens -= cost;
      return 0;
    }
    // Seconds until enough tokens for this call: the Retry-After the caller should honour.
    return Math.max(1, Math.ceil(((cost - this.tokens) / this.perMinute) * 60));
  }
}

export class HubPacing {
  private buckets = new Map<ThrottleGroup, Bucket>();
  private counts = new Map<FaultRule, { seen: number; failed: number }>();
  private rules: FaultRule[] = [];

  constructor(private options: HubOptions) {
    this.reset(options);
  }

  reset(options: HubOptions): void {
    this.options = options;
    this.buckets.clear();
    this.rules = options.faults ?? [];
    this.counts = new Map(this.rules.map((r) => [r, { seen: 0, failed: 0 }]));
  }

  /** Throws 429 when the group's allowance is spent; `cost` counts devices for bulk calls. */
  throttle(group: ThrottleGroup, cost = 1): void {
    const limit = limitPerMinute(this.options, group);
    if (limit === undefined || limit <= 0) return;
    let bucket = this.buckets.get(group);
    if (!bucket || bucket.perMinute !== limit) {
      bucket = new Bucket(limit);
      this.buckets.set(group, bucket);
    }
    const wait = bucket.take(Math.min(cost, limit));
    if (wait > 0) {
      // The service's wording (Iot-Telemetry-Simulator#39): the wait is in the message, which is all a strict-profile client gets.
      const err = hubError("ThrottlingException", `The request has been throttled. Wait ${wait} seconds and try again. Operation type: ${group} (${Math.round(limit)} per minute)`);
      (err as HubError & { retryAfter?: number }).retryAfter = wait;
      throw err;
    }
  }

  /** Applies matching fault rules: returns a delay to wait, throws the injected error. */
  inject(group: OperationGroup): number {
    let delay = 0;
    for (const rule of this.rules) {
      if (rule.group !== "*" && rule.group !== group) continue;
      const c = this.counts.get(rule)!;
      c.seen += 1;
      if (rule.delayMs) delay = Math.max(delay, rule.delayMs);
      if (rule.status === undefined) continue;
      if (rule.times !== undefined && c.failed >= rule.times) continue;
      const hit = rule.nth !== undefined ? c.seen === rule.nth : rule.fraction !== undefined ? Math.random() < rule.fraction : true;
      if (!hit) continue;
      c.failed += 1;
      throw injectedError(rule.status, group);
    }
    return delay;
  }
}

export function injectedError(status: number, group: string): HubError {
  const names: Record<number, string> = {
    400: "ArgumentInvalid",
    401: "IotHubUnauthorizedAccess",
    403: "IotHubQuotaExceeded",
    404: "DeviceNotFound",
    409: "DeviceAlreadyExists",
    412: "PreconditionFailed",
    429: "ThrottlingException",
    500: "ServerError",
    503: "ServiceUnavailable",
  };
  const name = names[status] ?? "ServerError";
  const code = status * 1000 + 1;
  const err = new HubError(name, `Injected fault on ${group}: HTTP ${status}`, code, status);
  if (status === 429 || status === 503) (err as HubError & { retryAfter?: number }).retryAfter = 1;
  return err;
}
