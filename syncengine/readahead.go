package syncengine

import "google.golang.org/protobuf/reflect/protoreflect"

// readAheadTx is a push's transaction with the records its batch will read
// (each mutation's record and the record its scope_from field names) read
// ahead in one query, instead of one query per read. A record the
// transaction writes is dropped from the read-ahead, so later reads of it
// see the write; ids not read ahead are read from the store as before.
type readAheadTx struct {
	Tx
	tenantID string
	records  map[string]*StoredRecord // by id; nil for a record known absent
}

// readAhead reads the records that the new mutations of a batch (seqs
// after last) will read, and returns tx answering GetRecord from them.
func (e *Engine) readAhead(tx Tx, p *Principal, muts []Mutation, last uint64) (Tx, error) {
	wanted := make([]string, 0, 2*len(muts))
	for i := range muts {
		if m := &muts[i]; m.Seq > last {
			wanted = append(wanted, m.RecordID)
			if id := e.parentID(m); id != "" {
				wanted = append(wanted, id)
			}
		}
	}
	if len(wanted) == 0 {
		return tx, nil
	}
	found, err := tx.GetRecords(p.TenantID, wanted)
	if err != nil {
		return nil, err
	}
	for _, id := range wanted {
		if _, ok := found[id]; !ok {
			found[id] = nil
		}
	}
	return &readAheadTx{Tx: tx, tenantID: p.TenantID, records: found}, nil
}

// parentID is the id a mutation's value holds in its type's scope_from
// field ("" when there is none); parentPlace reads that record.
func (e *Engine) parentID(m *Mutation) string {
	rt, ok := e.reg.Lookup(m.Type)
	if !ok || rt.Parent == nil || m.Value == nil || m.DecodeErr != nil {
		return ""
	}
	v := m.Value.ProtoReflect()
	fd := v.Descriptor().Fields().ByName(rt.Parent.Desc.Name())
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() || fd.IsMap() {
		return ""
	}
	return v.Get(fd).String()
}

func (t *readAheadTx) GetRecord(tenantID, id string) (*StoredRecord, error) {
	if rec, ok := t.records[id]; ok && tenantID == t.tenantID {
		return rec, nil
	}
	return t.Tx.GetRecord(tenantID, id)
}

func (t *readAheadTx) PutRecord(rec *StoredRecord, oldScope *Scope) (uint64, error) {
	if rec.TenantID == t.tenantID {
		delete(t.records, rec.ID)
	}
	return t.Tx.PutRecord(rec, oldScope)
}
