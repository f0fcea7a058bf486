// The web app's build leaves RE2 out (clients/web/vite.config.ts stubs
// @bufbuild/re2): validation must never reach it. Here RE2 throws, as the
// stub does, while a string.pattern rule and a CEL matches() rule are checked.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it, vi } from "vitest";
import { MutationSchema } from "../src/gen/fieldsync/v1/sync_pb.js";
import { CreateTenantRequestSchema } from "../src/gen/fieldsync/v1/system_pb.js";
import { validate } from "../src/validate.js";

vi.mock("@bufbuild/re2", () => ({
  RE2JS: {
    compile() {
      throw new Error("RE2 is not in this build");
    },
  },
}));

describe("validation without RE2", () => {
  it("checks string.pattern rules", () => {
    expect(validate(create(MutationSchema, { recordType: "fieldsync.v1.Visit", recordId: "01HZX3K2V9" }), MutationSchema).map((v) => v.ruleId)).not.toContain("string.pattern");
    expect(validate(create(MutationSchema, { recordType: "fieldsync.v1.Visit", recordId: "bad id!" }), MutationSchema).map((v) => v.ruleId)).toContain("string.pattern");
  });

  it("checks CEL matches() rules", () => {
    const ids = (name: string) => validate(create(CreateTenantRequestSchema, { name, adminDisplayName: "Zhang Wei" }), CreateTenantRequestSchema).map((v) => v.ruleId);
    expect(ids("Acme 医疗")).not.toContain("printable_name");
    expect(ids("   ")).toContain("printable_name");
    expect(ids("Acme\x01")).toContain("printable_name");
    expect(ids("Acme\x1b[31m")).toContain("printable_name");
    expect(ids("\x7f")).toContain("printable_name");
    expect(ids("Acme\u0085")).toContain("printable_name");
    expect(ids("\u3000\u3000")).toContain("printable_name");
    expect(ids("\u200b\ufeff\u00a0")).toContain("printable_name");
    expect(ids("张\u3000伟")).not.toContain("printable_name");
  });
});
