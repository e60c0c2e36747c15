import { describe, expect, it } from "vitest";
import {
  ExpressionError,
  ListKeysValue,
  MissingContextError,
  MissingParameterError,
  MissingSecretValue,
  Scope,
  SecretValue,
  armGuid,
  buildResourceId,
  evaluateString,
  isExpression,
  parseExpression,
  uniqueString,
} from "../../components/source/arm-expressions";

const context = { subscriptionId: "11111111-2222-3333-4444-555555555555", resourceGroup: "rg-orig", location: "westeurope" };

function scope(params: Record<string, unknown> = {}, variables: Record<string, unknown> = {}, withContext = true): Scope {
  const s: Scope = {
    parameter: (n) => {
      const k = Object.keys(params).find((x) => x.toLowerCase() === n.toLowerCase());
      if (k === undefined) throw new MissingParameterError(n);
      return params[k];
    },
    variable: (n) => {
      const k = Object.keys(variables).find((x) => x.toLowerCase() === n.toLowerCase());
      if (k === undefined) throw new ExpressionError(`no variable ${n}`);
      const v = variables[k];
      return typeof v === "string" ? evaluateString(v, s) : v;
    },
    ...(withContext ? { context } : {}),
  };
  return s;
}
const ev = (expr: string, s: Scope = scope()) => evaluateString(expr, s);

describe("parsing", () => {
  it("recognises expressions and the [[ escape", () => {
    expect(isExpression("[parameters('a')]")).toBe(true);
    expect(isExpression("[[not an expression]")).toBe(false);
    expect(ev("[[literal]")).toBe("[literal]");
    expect(ev("plain")).toBe("plain");
  });
  it("parses string literals with '' escapes, numbers, nested calls and accessors", () => {
    expect(ev("['it''s']")).toBe("it's");
    expect(ev("[add(2, -3)]")).toBe(-1);
    expect(ev("[createObject('a', createArray(1, 2, 3)).a[2]]")).toBe(3);
    expect(ev("[createObject('Key', 'v').key]")).toBe("v");
    expect(parseExpression("concat('a', parameters('b'))")).toMatchObject({ kind: "call", name: "concat", args: [{ kind: "string" }, { kind: "call" }] });
  });
  it("reports syntax errors", () => {
    expect(() => ev("[concat('a']")).toThrow(ExpressionError);
    expect(() => ev("[concat('a)]")).toThrow(/unterminated string/);
    expect(() => ev("[foo]")).toThrow(/must be a function call/);
  });
  it("treats function names case-insensitively", () => {
    expect(ev("[CONCAT('a', ToLower('B'))]")).toBe("ab");
  });
});

describe("parameters and variables", () => {
  it("reads parameters and variables, variables referencing parameters", () => {
    const s = scope({ hubName: "Hub1" }, { full: "[concat(parameters('hubname'), '-x')]", twice: "[concat(variables('full'), variables('FULL'))]" });
    expect(ev("[variables('twice')]", s)).toBe("Hub1-xHub1-x");
  });
  it("a missing parameter names itself and the fix", () => {
    try {
      ev("[parameters('iotHubName')]");
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MissingParameterError);
      expect((e as ExpressionError).message).toContain("iotHubName");
      expect((e as ExpressionError).fix).toContain("--param iotHubName=VALUE");
    }
  });
});

describe("string and collection functions", () => {
  const cases: Array<[string, unknown]> = [
    ["[concat('a', 'b', 1)]", "ab1"],
    ["[concat(createArray(1), createArray(2, 3))]", [1, 2, 3]],
    ["[format('{0}Hub{1}', 'contoso', 'x')]", "contosoHubx"],
    ["[format('{0}/{1}', format('{0}/{1}', 'a', 'b'), 'c')]", "a/b/c"],
    ["[toUpper('ab')]", "AB"],
    ["[string(createObject('a', 1))]", '{"a":1}'],
    ["[string(true())]", "True"],
    ["[int('42')]", 42],
    ["[bool('true')]", true],
    ["[length('abc')]", 3],
    ["[length(createArray(1, 2))]", 2],
    ["[replace('a-b-c', '-', '.')]", "a.b.c"],
    ["[split('a/b/c', '/')[1]]", "b"],
    ["[substring('abcdef', 2, 3)]", "cde"],
    ["[substring('abcdef', 2)]", "cdef"],
    ["[take('abcdef', 3)]", "abc"],
    ["[last(createArray(1, 2, 3))]", 3],
    ["[first('xyz')]", "x"],
    ["[coalesce(null(), '', 'x')]", ""],
    ["[coalesce(null(), 'x')]", "x"],
    ["[contains('abc', 'b')]", true],
    ["[contains(createObject('Key', 1), 'key')]", true],
    ["[contains(createArray('a'), 'b')]", false],
    ["[empty('')]", true],
    ["[empty(createObject())]", true],
    ["[equals(createArray(1, 2), createArray(1, 2))]", true],
    ["[not(equals('a', 'b'))]", true],
    ["[and(true(), or(false(), true()))]", true],
    ["[if(equals(1, 1), 'yes', 'no')]", "yes"],
    ["[union(createObject('a', 1, 'n', createObject('x', 1)), createObject('b', 2, 'n', createObject('y', 2)))]", { a: 1, b: 2, n: { x: 1, y: 2 } }],
    ["[union(createArray(1, 2), createArray(2, 3))]", [1, 2, 3]],
    ["[createObject('k', 'v')]", { k: "v" }],
    ["[tryGet(createObject('a', createObject('b', 1)), 'a', 'b')]", 1],
    ["[tryGet(null(), 'a')]", null],
    ["[map(createArray(1, 2), lambda('x', mul(lambdaVariables('x'), 10)))]", [10, 20]],
    ["[reduce(createArray(1, 2, 3), 0, lambda('acc', 'x', add(lambdaVariables('acc'), lambdaVariables('x'))))]", 6],
    ["[filter(createArray(1, 2, 3), lambda('x', greater(lambdaVariables('x'), 1)))]", [2, 3]],
    ["[environment().suffixes.storage]", "core.windows.net"],
  ];
  it.each(cases)("%s", (expr, expected) => {
    expect(ev(expr)).toEqual(expected);
  });
  it("if() only evaluates the branch it takes", () => {
    expect(ev("[if(true(), 'ok', parameters('missing'))]")).toBe("ok");
  });
});

describe("deployment context", () => {
  it("resourceGroup() and subscription()", () => {
    expect(ev("[resourceGroup().name]")).toBe("rg-orig");
    expect(ev("[resourceGroup().Location]")).toBe("westeurope");
    expect(ev("[resourceGroup().id]")).toBe("/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-orig");
    expect(ev("[subscription().subscriptionid]")).toBe(context.subscriptionId);
    expect(ev("[subscription().id]")).toBe(`/subscriptions/${context.subscriptionId}`);
  });
  it("without a context, says what to supply", () => {
    expect(() => ev("[resourceGroup().location]", scope({}, {}, false))).toThrow(MissingContextError);
    expect(() => ev("[resourceGroup().location]", scope({}, {}, false))).toThrow(/subscription and resource group/);
  });
  it("resourceId() in its 1–5 segment forms, with optional subscription and resource group", () => {
    const rg = `/subscriptions/${context.subscriptionId}/resourceGroups/rg-orig`;
    expect(ev("[resourceId('Microsoft.Devices/IotHubs', 'hub1')]")).toBe(`${rg}/providers/Microsoft.Devices/IotHubs/hub1`);
    expect(ev("[resourceId('Microsoft.Devices/IotHubs/eventHubEndpoints/ConsumerGroups', 'hub1', 'events', 'cg1')]")).toBe(
      `${rg}/providers/Microsoft.Devices/IotHubs/hub1/eventHubEndpoints/events/ConsumerGroups/cg1`,
    );
    expect(ev("[resourceId('other-rg', 'Microsoft.Storage/storageAccounts', 'st1')]")).toBe(
      `/subscriptions/${context.subscriptionId}/resourceGroups/other-rg/providers/Microsoft.Storage/storageAccounts/st1`,
    );
    expect(ev("[resourceId('sub2', 'rg2', 'Microsoft.ServiceBus/namespaces/queues/authorizationRules', 'ns', 'q', 'send')]")).toBe(
      "/subscriptions/sub2/resourceGroups/rg2/providers/Microsoft.ServiceBus/namespaces/ns/queues/q/authorizationRules/send",
    );
    // Trailing slash on the type and lower-case function spelling both occur in Microsoft's docs.
    expect(ev("[resourceID('Microsoft.ManagedIdentity/userAssignedIdentities/', 'id1')]")).toBe(
      `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1`,
    );
    // Names may be given as one "a/b" string.
    expect(buildResourceId(["Microsoft.Storage/storageAccounts/blobServices/containers", "st/default/c1"], () => context)).toBe(
      `${rg}/providers/Microsoft.Storage/storageAccounts/st/blobServices/default/containers/c1`,
    );
    expect(() => ev("[resourceId('Microsoft.Devices/IotHubs')]")).toThrow(/needs 1 name segment/);
  });
  it("subscriptionResourceId()", () => {
    expect(ev("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'abc')]")).toBe(
      `/subscriptions/${context.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/abc`,
    );
  });
});

describe("uniqueString and guid", () => {
  // Published input/output pairs of ARM's uniqueString: five from a public reimplementation's
  // self-test ("verified against Bicep uniqueString() output"), and "tyeth" from a Stack Overflow
  // answer that computed it with Microsoft's Azure.Deployments.Expression library. "tyeth" (5
  // bytes) is the one that exercises the 5–7-byte tail. Our implementation was written from the
  // algorithm's description, so these pairs are an independent check.
  const published: Array<[string[], string]> = [
    [["tyeth"], "zcztcwvu6iyg6"],
    [["test"], "rbgf3xv4ufgzg"],
    [["hello", "world"], "a7wkljktk6wne"],
    [["abc"], "cgtzqvhu4i23s"],
    [["/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg"], "bmg7c6xu4tw46"],
    [["foo", "bar", "baz"], "xzi4ioaxtmth4"],
  ];
  it.each(published)("uniqueString(%j) = %s", (args, expected) => {
    expect(uniqueString(...args)).toBe(expected);
  });
  it("is 13 base-32 characters and deterministic through the evaluator", () => {
    const v = ev("[uniqueString(resourceGroup().id)]") as string;
    expect(v).toMatch(/^[a-z2-7]{13}$/);
    expect(v).toBe(uniqueString(`/subscriptions/${context.subscriptionId}/resourceGroups/rg-orig`));
  });
  it("guid() is a deterministic RFC 4122 version-5 UUID", () => {
    const g = armGuid("a", "b");
    expect(g).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(armGuid("a", "b")).toBe(g);
    expect(armGuid("a", "c")).not.toBe(g);
  });
});

describe("deploy-time functions", () => {
  it("listKeys/listkeys become markers with the resource id and key path", () => {
    const v = ev("[listKeys(resourceId('Microsoft.Storage/storageAccounts', 'st1'), '2021-02-01').keys[0].value]");
    expect(v).toBeInstanceOf(ListKeysValue);
    const lk = v as ListKeysValue;
    expect(lk.resourceId).toMatch(/\/providers\/Microsoft\.Storage\/storageAccounts\/st1$/);
    expect(lk.keyName).toBe("key1");
    expect(lk.expression).toBe("listKeys(resourceId('Microsoft.Storage/storageAccounts', 'st1'), '2021-02-01').keys[0].value");
    const sb = ev("[listkeys(resourceId('Microsoft.ServiceBus/namespaces/queues/authorizationRules', 'ns', 'q', 'r'), '2017-04-01').primaryKey]") as ListKeysValue;
    expect(sb.keyName).toBe("primaryKey");
    const cs = ev("[LISTKEYS(resourceId('Microsoft.EventHub/namespaces/authorizationRules', 'ns', 'r'), '2017-04-01').primaryConnectionString]") as ListKeysValue;
    expect(cs.keyName).toBe("primaryConnectionString");
    const hubPolicy = ev("[listkeys(resourceId('Microsoft.Devices/IotHubs', 'hub1'), 'iothubowner').value]") as ListKeysValue;
    expect(hubPolicy.keyName).toBe("iothubowner");
  });
  it("a connection string concatenated around listKeys stays a listKeys marker, with the string as a template", () => {
    const v = ev(
      "[concat('DefaultEndpointsProtocol=https;AccountName=st1;AccountKey=', listKeys(resourceId('Microsoft.Storage/storageAccounts', 'st1'), providers('Microsoft.Storage', 'storageAccounts').apiVersions[0]).keys[0].value, ';EndpointSuffix=', environment().suffixes.storage)]",
    ) as ListKeysValue;
    expect(v).toBeInstanceOf(ListKeysValue);
    expect(v.resourceId).toMatch(/storageAccounts\/st1$/);
    expect(v.template).toBe("DefaultEndpointsProtocol=https;AccountName=st1;AccountKey={key};EndpointSuffix=core.windows.net");
    const f = ev("[format('Endpoint=sb://{0}/;SharedAccessKey={1}', 'ns', listKeys('id1', '2017-04-01').primaryKey)]") as ListKeysValue;
    expect(f.template).toBe("Endpoint=sb://ns/;SharedAccessKey={key}");
  });
  it("reference(), utcNow(), newGuid() fail with a reason and a fix", () => {
    expect(() => ev("[reference('x').hostName]")).toThrow(/reference\(\) reads a deployed resource/);
    try {
      ev("[utcNow()]");
      expect.unreachable();
    } catch (e) {
      expect((e as ExpressionError).fix).toMatch(/--param/);
    }
    expect(() => ev("[newGuid()]")).toThrow(ExpressionError);
    expect(() => ev("[listAccountSas('x', '2021-01-01', createObject())]")).toThrow(/only listKeys/);
    expect(() => ev("[frobnicate()]")).toThrow(/not supported/);
  });
  it("secret parameters stay secret through string functions; missing ones stay missing", () => {
    const s = scope({ conn: new SecretValue("AccountKey=abc", "conn"), gone: new MissingSecretValue("gone") });
    const v = ev("[concat(parameters('conn'), ';x')]", s);
    expect(v).toBeInstanceOf(SecretValue);
    expect((v as SecretValue).value).toBe("AccountKey=abc;x");
    expect(ev("[toLower(parameters('gone'))]", s)).toBeInstanceOf(MissingSecretValue);
  });
  it("functions that inspect a secret see its value (empty, equals, if)", () => {
    const s = scope({ cert: new SecretValue("", "cert"), flag: new SecretValue("on", "flag") });
    expect(ev("[empty(parameters('cert'))]", s)).toBe(true);
    expect(ev("[equals(parameters('flag'), 'on')]", s)).toBe(true);
    expect(ev("[if(empty(parameters('cert')), 'none', 'some')]", s)).toBe("none");
    expect(ev("[length(parameters('flag'))]", s)).toBe(2);
  });
});
