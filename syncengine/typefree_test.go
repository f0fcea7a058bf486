package syncengine_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/fieldsync/fieldsync/syncengine"
)

const fieldsyncv1Path = "github.com/fieldsync/fieldsync/proto/fieldsync/v1"

// TestEngineNamesNoRecordType keeps the engine generic: no non-test file of
// the package names a record type, as a generated Go type (fieldsyncv1.Visit)
// or by its full name ("fieldsync.v1.Visit"). What a type does beyond
// syncing belongs in its proto options and in package records.
func TestEngineNamesNoRecordType(t *testing.T) {
	t.Parallel()
	mentions, imported := recordTypeMentions(t, ".")
	if !imported {
		t.Fatalf("no file imports %s: the check would miss its types", fieldsyncv1Path)
	}
	for _, m := range mentions {
		t.Error(m)
	}
}

// recordTypeMentions lists where the non-test Go files of dir name a
// record type of the default registry, and reports whether any of them
// imports the generated package.
func recordTypeMentions(t *testing.T, dir string) (mentions []string, imported bool) {
	t.Helper()
	goNames, fullNames := map[string]bool{}, map[string]bool{}
	for _, rt := range syncengine.DefaultRegistry().Types() {
		goNames[goIdent(rt.Desc)] = true
		fullNames[string(rt.Name)] = true
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		alias := importName(f, fieldsyncv1Path)
		imported = imported || alias != ""
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && alias != "" && x.Name == alias && namesType(goNames, n.Sel.Name) {
					mentions = append(mentions, fset.Position(n.Pos()).String()+": "+alias+"."+n.Sel.Name)
				}
			case *ast.BasicLit:
				if s, err := strconv.Unquote(n.Value); n.Kind == token.STRING && err == nil && fullNames[s] {
					mentions = append(mentions, fset.Position(n.Pos()).String()+": "+n.Value)
				}
			}
			return true
		})
	}
	return mentions, imported
}

// goIdent is the generated Go name of a message: Parent_Child when nested.
func goIdent(md protoreflect.MessageDescriptor) string {
	name := string(md.Name())
	for p, ok := md.Parent().(protoreflect.MessageDescriptor); ok; p, ok = p.Parent().(protoreflect.MessageDescriptor) {
		name = string(p.Name()) + "_" + name
	}
	return name
}

// namesType reports whether a generated identifier is a record type or
// something declared inside one (a nested message or enum).
func namesType(goNames map[string]bool, ident string) bool {
	for n := range goNames {
		if ident == n || strings.HasPrefix(ident, n+"_") {
			return true
		}
	}
	return false
}

// importName is the name a file uses for an import path; "" when it does
// not import it.
func importName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p != path {
			continue
		}
		if imp.Name != nil {
			return imp.Name.Name
		}
		return "fieldsyncv1"
	}
	return ""
}
