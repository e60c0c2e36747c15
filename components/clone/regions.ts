/**
 * Public Azure region names (`az account list-locations --query "[].name"`, physical regions of
 * the public cloud). Hand-kept because no installed package ships the list; a region missing
 * here only costs a validation error whose message says how to proceed.
 */
export const AZURE_REGIONS: readonly string[] = [
  "australiacentral", "australiacentral2", "australiaeast", "australiasoutheast",
  "austriaeast", "belgiumcentral", "brazilsouth", "brazilsoutheast", "canadacentral", "canadaeast",
  "centralindia", "centralus", "chilecentral", "eastasia", "eastus", "eastus2",
  "francecentral", "francesouth", "germanynorth", "germanywestcentral",
  "indonesiacentral", "israelcentral", "italynorth", "japaneast", "japanwest",
  "jioindiacentral", "jioindiawest", "koreacentral", "koreasouth", "malaysiawest", "mexicocentral",
  "newzealandnorth", "northcentralus", "northeurope", "norwayeast", "norwaywest",
  "polandcentral", "qatarcentral", "southafricanorth", "southafricawest", "southcentralus",
  "southindia", "southeastasia", "spaincentral", "swedencentral", "swedensouth",
  "switzerlandnorth", "switzerlandwest", "uaecentral", "uaenorth", "uksouth", "ukwest",
  "westcentralus", "westeurope", "westindia", "westus", "westus2", "westus3",
];

/** `West US 2` / `westus2` / `WestUS2` → `westus2` (ARM accepts display names; we compare normalised). */
export function normaliseRegion(location: string): string {
  return location.replace(/\s+/g, "").toLowerCase();
}

export function isKnownRegion(location: string): boolean {
  return AZURE_REGIONS.includes(normaliseRegion(location));
}
