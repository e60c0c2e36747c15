/**
 * Counts of a generated fleet taken from the lines the generator actually emits, one by one, not
 * from its own expectedCounts(): a test comparing the engine with expectedCounts() would pass when
 * both undercount the same way. (seedEveryKind does the same for hand-written fleets.)
 */
import { generateDeviceLines, type GenerateOptions } from "../../components/devices/generate";

export interface FleetCount {
  devices: number;
  /** Custom modules ($edgeAgent/$edgeHub are the hub's own). */
  modules: number;
  /** Devices with a parent (nested edge devices and leaves): the ones a copy re-parents. */
  children: number;
  /** Every device and module key in the lines. */
  keys: string[];
}

export function countFleetLines(lines: Iterable<string>): FleetCount {
  const out: FleetCount = { devices: 0, modules: 0, children: 0, keys: [] };
  for (const line of lines) {
    const r = JSON.parse(line) as { moduleId?: string; parentScopes?: string[]; authentication?: { symmetricKey?: { primaryKey?: string; secondaryKey?: string } } };
    if (r.moduleId) {
      if (!r.moduleId.startsWith("$")) out.modules++;
    } else {
      out.devices++;
      if (r.parentScopes?.length) out.children++;
    }
    const k = r.authentication?.symmetricKey;
    for (const v of [k?.primaryKey, k?.secondaryKey]) if (v) out.keys.push(v);
  }
  return out;
}

export function generatedFleet(o: GenerateOptions): FleetCount {
  return countFleetLines(generateDeviceLines(o));
}
