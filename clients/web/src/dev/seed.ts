/**
 * Test support, loaded only when called (its own chunk): fills the device
 * store with n synced records of the types Today reads, as if pulled, to
 * measure Today against a large store.
 */
import { create, createRegistry, fromBinary, toBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  AlertSchema, CommitmentSchema, CommitmentState, CustomerSchema, OpportunitySchema, OpportunityStage, RowState, StockLevelSchema,
  VisitSchema, file_fieldsync_v1_records, newUlid, type Client, type RecordRow, type Storage,
} from "@fieldsync/client";
import { computeToday, dropTodayIndex, loadData, loadTodayInputs } from "../data";

export async function seed(storage: Storage, n: number, now = Date.now()): Promise<number> {
  const H = 3_600_000;
  const customers = Math.max(1, Math.floor(n / 10));
  const kinds: [DescMessage, (i: number) => Message][] = [
    [CommitmentSchema, (i) => create(CommitmentSchema, { customerId: `seed-c${i % customers}`, description: `commitment ${i}`, dueTime: timestampFromMs(now + ((i % 200) - 100) * H), state: CommitmentState.OPEN })],
    [VisitSchema, (i) => create(VisitSchema, { customerId: `seed-c${i % customers}`, visitTime: timestampFromMs(now - (i % 500) * H), nextAppointmentTime: timestampFromMs(now + ((i % 300) - 50) * H), followUpCommitments: `follow up ${i}` })],
    [OpportunitySchema, (i) => create(OpportunitySchema, { customerId: `seed-c${i % customers}`, title: `opportunity ${i}`, stage: OpportunityStage.PROPOSAL, nextActionDueTime: timestampFromMs(now + ((i % 100) - 50) * 24 * H) })],
    [StockLevelSchema, (i) => create(StockLevelSchema, { terminalId: `seed-c${i % customers}`, productId: `P-${i}`, onHand: BigInt(i % 30), safetyStock: 20n })],
    [AlertSchema, (i) => create(AlertSchema, { title: `alert ${i}`, body: "seeded", kind: 2, raisedTime: timestampFromMs(now - i * 1000) })],
  ];
  const rows: RecordRow[] = [];
  for (let i = 0; i < customers; i++) rows.push(row(CustomerSchema, `seed-c${i}`, create(CustomerSchema, { name: `Customer ${i}`, address: `${i} Seed Rd` })));
  for (let i = 0; rows.length < n; i++) {
    const [schema, make] = kinds[i % kinds.length];
    rows.push(row(schema, newUlid(now - i), make(i)));
  }
  if (typeof localStorage !== "undefined") dropTodayIndex(); // the rows change behind the store's state key
  for (let i = 0; i < rows.length; i += 2000) {
    await storage.update(async (tx) => {
      for (const r of rows.slice(i, i + 2000)) await tx.putRow(r);
    });
  }
  return rows.length;
}

function row(schema: DescMessage, id: string, m: Message): RecordRow {
  return { id, type: schema.typeName, base: toBinary(schema, m), version: 1n, hlc: 1n, gen: 0, state: RowState.Synced, view: null };
}

/** Where a Today load spends its time (ms): the SDK's lists, one raw read of every row, decoding them, computing Today. */
export async function profile(client: Client, storage: Storage): Promise<Record<string, number>> {
  const reg = createRegistry(file_fieldsync_v1_records);
  let at = performance.now();
  const lap = () => {
    const now = performance.now();
    const ms = now - at;
    at = now;
    return Math.round(ms * 10) / 10;
  };
  await loadData(client);
  const list = lap();
  const rows = await storage.read((tx) => tx.allRows());
  const read = lap();
  for (const r of rows) if (r.base) fromBinary(reg.getMessage(r.type)!, r.base);
  const decode = lap();
  const inputs = await loadTodayInputs(storage);
  const todayRead = lap();
  computeToday(inputs, new Date());
  const compute = lap();
  return { list, read, decode, todayRead, compute, rows: rows.length };
}
