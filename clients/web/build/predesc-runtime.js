// Descriptors precomputed at build time: the runtime half (see predesc.ts).
// A generated file's fileDesc("<base64>", deps) becomes
// predesc((m, u) => m(0, {...}), ["google.protobuf.FileDescriptorProto", ...], deps):
// the FileDescriptorProto as object literals, each message made as create()
// makes it (its prototype, $typeName, empty lists) with the fields the binary
// form set, so booting a file no longer decodes protobuf binary through
// reflection. What follows is fileDesc's own: JSON names restored, the
// dependencies named, the registry built.
import { create, createFileRegistry } from "@bufbuild/protobuf";
import { protoCamelCase } from "@bufbuild/protobuf/reflect";
import { file_google_protobuf_descriptor } from "@bufbuild/protobuf/wkt";

let schemas;

/** descriptor.proto's message of typeName. */
function schema(typeName) {
  if (!schemas) {
    schemas = new Map();
    const walk = (ms) => {
      for (const m of ms) {
        schemas.set(m.typeName, m);
        walk(m.nestedMessages);
      }
    };
    walk(file_google_protobuf_descriptor.messages);
  }
  const s = schemas.get(typeName);
  if (!s) throw new Error(`predesc: no ${typeName} in descriptor.proto`);
  return s;
}

/** The bytes of a Latin-1 string. */
function u(s) {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** codegenv2's restoreJsonNames: a field's JSON name where the binary form left it out (it does when it is the default). */
function restoreJsonNames(message) {
  for (const f of message.field) {
    if (!(Object.prototype.hasOwnProperty.call(f, "jsonName") && f.jsonName !== undefined)) f.jsonName = protoCamelCase(f.name);
  }
  message.nestedType.forEach(restoreJsonNames);
}

/** fileDesc, from the precomputed FileDescriptorProto. */
export function predesc(build, typeNames, imports) {
  const types = typeNames.map(schema);
  const root = build((i, fields) => Object.assign(create(types[i]), fields), u);
  root.messageType.forEach(restoreJsonNames);
  root.dependency = imports?.map((f) => f.proto.name) ?? [];
  const reg = createFileRegistry(root, (name) => imports?.find((f) => f.proto.name === name));
  return reg.getFile(root.name);
}
