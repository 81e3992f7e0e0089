package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// liveObject reads one object named by the common flags of `kstatus` and `lua-health`.
type liveObject struct {
	kubeconfig, resource, namespace *string
}

func liveFlags(fs *flag.FlagSet) liveObject {
	return liveObject{
		kubeconfig: fs.String("kubeconfig", "", "kubeconfig of the cluster"),
		resource:   fs.String("resource", "", "GROUP/VERSION/PLURAL (VERSION/PLURAL for the core group)"),
		namespace:  fs.String("namespace", "", "the object's namespace"),
	}
}

func (l liveObject) get(name string) (*unstructured.Unstructured, error) {
	parts := strings.Split(*l.resource, "/")
	var gvr schema.GroupVersionResource
	switch len(parts) {
	case 3:
		gvr = schema.GroupVersionResource{Group: parts[0], Version: parts[1], Resource: parts[2]}
	case 2:
		gvr = schema.GroupVersionResource{Version: parts[0], Resource: parts[1]}
	default:
		return nil, fmt.Errorf("--resource %q is not GROUP/VERSION/PLURAL", *l.resource)
	}
	config, err := clientcmd.BuildConfigFromFlags("", *l.kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return client.Resource(gvr).Namespace(*l.namespace).Get(ctx, name, metav1.GetOptions{})
}

// kstatusCommand prints kstatus' verdict (Current, InProgress, Failed, …) and message as JSON:
// what Flux, kpt and `kubectl wait --for` style tools read from our conditions.
func kstatusCommand(args []string) error {
	fs := flag.NewFlagSet("kstatus", flag.ContinueOnError)
	live := liveFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("kstatus needs one object name")
	}
	obj, err := live.get(fs.Arg(0))
	if err != nil {
		return err
	}
	result, err := status.Compute(obj)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]string{
		"status":  result.Status.String(),
		"message": result.Message,
	})
}

// luaHealthCommand runs an Argo CD health script on a live object the way Argo CD does: a
// gopher-lua state with only the package, base and table libraries, the object as the global
// `obj`, one second to finish, and a returned table whose status must be one Argo CD knows.
func luaHealthCommand(args []string) error {
	fs := flag.NewFlagSet("lua-health", flag.ContinueOnError)
	live := liveFlags(fs)
	script := fs.String("script", "", "the health script (Lua)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *script == "" {
		return errors.New("lua-health needs --script and one object name")
	}
	code, err := os.ReadFile(*script)
	if err != nil {
		return err
	}
	obj, err := live.get(fs.Arg(0))
	if err != nil {
		return err
	}
	health, err := runHealthScript(string(code), obj.Object)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(health)
}

func runHealthScript(code string, obj map[string]any) (map[string]string, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for name, open := range map[string]lua.LGFunction{
		lua.LoadLibName: lua.OpenPackage,
		lua.BaseLibName: lua.OpenBase,
		lua.TabLibName:  lua.OpenTable,
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(open), Protect: true}, lua.LString(name)); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(code); err != nil {
		return nil, err
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("the script returned %s, not a table", L.Get(-1).Type())
	}
	out := map[string]string{
		"status":  lua.LVAsString(ret.RawGetString("status")),
		"message": lua.LVAsString(ret.RawGetString("message")),
	}
	switch out["status"] {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
		return out, nil
	}
	return nil, fmt.Errorf("the script returned status %q, which Argo CD treats as invalid", out["status"])
}

// toLua converts decoded JSON into Lua values as Argo CD does: objects and arrays become tables,
// integers (as client-go decodes them) numbers.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case json.Number:
		return lua.LString(v)
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetString(k, toLua(L, item))
		}
		return t
	}
	return lua.LNil
}
