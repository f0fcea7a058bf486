import { create } from "@bufbuild/protobuf";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../src/gen/fieldsync/v1/admin_pb.js";
import { Client, VisitSchema } from "../src/index.js";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { memoryStorage } from "./helpers.js";
import { goBuild, startServer, type TestServer } from "./server.js";

/**
 * The Go SDK (through `fieldsync device`, built from this checkout) and this
 * SDK, two devices of one user on a real fieldsyncd, edit the same visit and
 * end with the same view.
 */

let srv: TestServer;
let cli: string;

beforeAll(async () => {
  srv = await startServer();
  cli = join(srv.dir, "fieldsync");
  goBuild(cli, "./cmd/fieldsync");
});

afterAll(async () => {
  await srv?.stop();
});

function rep() {
  return srv.creds.users.find((u) => u.role === "rep")!;
}

/** Runs `fieldsync device …` as the rep's demo device and returns its JSON output. */
function goDevice(...args: string[]): { records?: { id: string; pending: boolean; value: Record<string, unknown> }[]; id?: string } {
  const out = execFileSync(cli, ["device", ...args, `--db=${join(srv.dir, "go-device.db")}`, `--server=${srv.url}`, `--token=${rep().device_token}`], { encoding: "utf8" });
  return JSON.parse(out);
}

async function tsDevice(): Promise<Client> {
  const admin = createClient(AdminService, createConnectTransport({
    baseUrl: srv.url,
    useBinaryFormat: true,
    interceptors: [(next) => (req) => (req.header.set("Authorization", "Bearer " + srv.creds.admin_token), next(req))],
  }));
  const { enrollmentCode } = await admin.issueEnrollmentCode({ userId: rep().user_id });
  return Client.enroll({ storage: await memoryStorage(), server: srv.url, enrollmentCode, deviceName: "web" });
}

describe("Go SDK and TypeScript SDK", () => {
  it("converge on a visit both edit", async () => {
    const created = goDevice("visit", "create", "--customer", "demo-ruijin", "--notes", "from go", "--tags", "first_contact");
    const id = created.id!;
    goDevice("sync");

    const web = await tsDevice();
    await web.sync();
    expect(await web.get(VisitSchema, id)).toMatchObject({ notes: "from go", customerId: "demo-ruijin", actionTags: ["first_contact"] });

    // Both edit: Go adds a tag, then the web device sets the notes and adds another tag.
    goDevice("visit", "edit", id, "--tags", "price_negotiation");
    await web.put(id, create(VisitSchema, { notes: "from ts", actionTags: ["technical_demo"] }), ["notes", "action_tags"]);
    goDevice("sync");
    await web.sync();
    goDevice("sync");

    const goView = goDevice("list", "--type", "Visit").records!.find((r) => r.id === id)!;
    const tsView = (await web.get(VisitSchema, id))!;
    expect(goView.pending).toBe(false);
    expect(goView.value.notes).toBe("from ts");
    expect(tsView.notes).toBe("from ts");
    expect([...(goView.value.actionTags as string[])].sort()).toEqual(["first_contact", "price_negotiation", "technical_demo"]);
    expect([...tsView.actionTags].sort()).toEqual(["first_contact", "price_negotiation", "technical_demo"]);
    expect(goView.value.customerId).toBe(tsView.customerId);
  });
});
