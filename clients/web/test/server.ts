// A real fieldsyncd for the browser tests: the SDK's own test helper.
export * from "../../ts/test/server.js";
