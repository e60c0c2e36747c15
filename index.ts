/**
 * The clone program: read the stack config, declare the clone, export what users need.
 * Everything else lives in components/ (see components/clone/hub-clone.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import { HubClone } from "./components/clone/hub-clone";
import { readCloneConfig } from "./components/config";
import { UserError } from "./components/errors";
import { redact } from "./components/secrets";

function declareClone(): HubClone {
  try {
    const { config, secretKeys } = readCloneConfig();
    return new HubClone("clone", { config, secretKeys });
  } catch (err) {
    // Bad input: one line per finding and no stack trace (Pulumi prints a RunError's message only).
    if (err instanceof UserError) throw new pulumi.RunError(redact(err.message));
    throw err;
  }
}

const clone = declareClone();

export const hubName = clone.cloneName;
export const hostName = clone.hostName;
export const resourceId = clone.resourceId;
export const eventHubCompatibleEndpoint = clone.eventHubCompatibleEndpoint;
export const eventHubCompatiblePath = clone.eventHubCompatiblePath;
/** Secret: shared access policy name → service connection string of the clone. */
export const connectionStrings = clone.connectionStrings;
/** What was carried over, changed and dropped, and the warnings of the transform. */
export const summary = clone.summary;
/** Device copy and cutover time estimates (pace model, docs/devices.md), when the original's device count could be read. */
export const estimates = clone.estimates;
