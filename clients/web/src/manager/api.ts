/**
 * The managers' server calls: Connect clients of the dashboard, insights,
 * admin, media and identity services, authorised by the device's token (a
 * manager's screens work on the same enrolled device as the field screens).
 * They need the network; the alerts inbox also reads the local store.
 */
import { createClient, type Client as RpcClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { IdentityService } from "@fieldsync/client";
import { AdminService } from "../../../ts/dist/gen/fieldsync/v1/admin_pb.js";
import { DashboardService } from "../../../ts/dist/gen/fieldsync/v1/dashboard_pb.js";
import { InsightsService } from "../../../ts/dist/gen/fieldsync/v1/insights_pb.js";
import { MediaService } from "../../../ts/dist/gen/fieldsync/v1/media_pb.js";
import { session } from "../session";

/** The server's origin (as the session uses it). */
export const serverUrl = (): string => (import.meta.env.VITE_FIELDSYNC_SERVER as string | undefined) || location.origin;

export interface Api {
  dashboard: RpcClient<typeof DashboardService>;
  insights: RpcClient<typeof InsightsService>;
  admin: RpcClient<typeof AdminService>;
  media: RpcClient<typeof MediaService>;
  identity: RpcClient<typeof IdentityService>;
}

let cached: { token: string; api: Api } | null = null;

/** The clients for the session's device token; throws before enrollment. */
export async function api(): Promise<Api> {
  const s = session();
  if (!s) throw new Error("not enrolled");
  const { token } = await s.storage.read((tx) => tx.meta());
  if (cached?.token === token) return cached.api;
  const transport = createConnectTransport({
    baseUrl: serverUrl(),
    useBinaryFormat: true, // Any values (the cited records) need no JSON type registry
    interceptors: [(next) => (req) => (req.header.set("Authorization", `Bearer ${token}`), next(req))],
  });
  const make = <S extends DescService>(svc: S) => createClient(svc, transport);
  const a: Api = {
    dashboard: make(DashboardService), insights: make(InsightsService), admin: make(AdminService),
    media: make(MediaService), identity: make(IdentityService),
  };
  cached = { token, api: a };
  return a;
}

/** A photo's URL to show (GetMediaURL), resolved against the server; "" when it cannot be had. */
export async function photoUrl(sha256: string): Promise<string> {
  if (!/^[0-9a-f]{64}$/.test(sha256)) return "";
  try {
    const res = await (await api()).media.getMediaURL({ sha256 });
    return new URL(res.url, serverUrl()).toString();
  } catch {
    return "";
  }
}
