// Command merge-oracle answers spec-joining questions with Argo's own Go code, so the tests can
// check argo-admission's Python re-implementation against the real thing.
//
// It reads one JSON request per line on stdin and writes one JSON answer per line:
//
//	{"op":"join","workflow":{...spec},"template":{...spec}|null,"defaults":{...spec}|null,"sanitize":true}
//	  -> {"spec":{...}} or {"error":"..."}            (JoinWorkflowSpec, after SanitizeUserWorkflowSpec)
//	{"op":"overrides","workflow":{...spec}}
//	  -> {"error":"fields [...] are not permitted ..."} or {}   (ValidateUserOverrides)
//	{"op":"defaults","workflow":{...Workflow},"defaults":{...Workflow}}
//	  -> {"workflow":{...}} or {"error":"..."}         (MergeTo, as setWorkflowDefaults does)
//	{"op":"roundtrip","workflow":{...spec}}
//	  -> {"spec":{...}}                                (read into WorkflowSpec and written back)
//	{"op":"value","kind":"quantity|anystring|intorstring","value":...}
//	  -> {"value":...} or {"error":"..."}              (one Go value type read and written back)
//
// Every document is first rewritten as the API server hands it on (storedJSON): the controller
// never reads the bytes a client sent, it reads what the API server re-encoded.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	wfutil "github.com/argoproj/argo-workflows/v3/workflow/util"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type request struct {
	Op       string          `json:"op"`
	Workflow json.RawMessage `json:"workflow"`
	Template json.RawMessage `json:"template"`
	Defaults json.RawMessage `json:"defaults"`
	Sanitize bool            `json:"sanitize"`
	Kind     string          `json:"kind"`
	Value    json.RawMessage `json:"value"`
}

// storedJSON re-encodes raw JSON the way the API server stores a custom resource: a number
// without a fraction that fits an int64 is read as one, any other as a float64
// (sigs.k8s.io/json PreserveInts), and numbers and strings are written back by encoding/json.
// Members keep their order, so repeated or case-folded keys reach the decoder as sent.
func storedJSON(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out bytes.Buffer
	type frame struct {
		object bool
		items  int
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return out.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			out.WriteByte(byte(d))
			continue
		}
		if n := len(stack); n > 0 {
			top := &stack[n-1]
			if top.object && top.items%2 == 1 {
				out.WriteByte(':')
			} else if top.items > 0 {
				out.WriteByte(',')
			}
			top.items++
		}
		if d, ok := tok.(json.Delim); ok {
			out.WriteByte(byte(d))
			stack = append(stack, frame{object: d == '{'})
			continue
		}
		text, err := storedScalar(tok)
		if err != nil {
			return nil, err
		}
		out.Write(text)
	}
}

func storedScalar(tok json.Token) ([]byte, error) {
	number, ok := tok.(json.Number)
	if !ok {
		return json.Marshal(tok)
	}
	s := string(number)
	if !strings.Contains(s, ".") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return json.Marshal(i)
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, err
	}
	return json.Marshal(f)
}

// storeRequest rewrites every document of the request as the API server would store it.
func storeRequest(req *request) error {
	for _, raw := range []*json.RawMessage{&req.Workflow, &req.Template, &req.Defaults, &req.Value} {
		stored, err := storedJSON(*raw)
		if err != nil {
			return err
		}
		*raw = stored
	}
	return nil
}

// value reads one JSON value into a Go value type, as a field of that type is read.
func value(kind string, raw json.RawMessage) map[string]interface{} {
	var target interface{}
	switch kind {
	case "quantity":
		target = &resource.Quantity{}
	case "anystring":
		target = new(wfv1.AnyString)
	case "intorstring":
		target = &intstr.IntOrString{}
	default:
		return map[string]interface{}{"error": fmt.Sprintf("unknown kind %q", kind)}
	}
	if err := json.Unmarshal(raw, target); err != nil {
		return map[string]interface{}{"error": err.Error()}
	}
	return map[string]interface{}{"value": target}
}

func decodeSpec(raw json.RawMessage) (*wfv1.WorkflowSpec, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	spec := &wfv1.WorkflowSpec{}
	if err := json.Unmarshal(raw, spec); err != nil {
		return nil, err
	}
	return spec, nil
}

func answer(req request) map[string]interface{} {
	switch req.Op {
	case "join":
		user, err := decodeSpec(req.Workflow)
		if err != nil {
			return map[string]interface{}{"error": "workflow: " + err.Error()}
		}
		if user == nil {
			user = &wfv1.WorkflowSpec{}
		}
		tmpl, err := decodeSpec(req.Template)
		if err != nil {
			return map[string]interface{}{"error": "template: " + err.Error()}
		}
		defaults, err := decodeSpec(req.Defaults)
		if err != nil {
			return map[string]interface{}{"error": "defaults: " + err.Error()}
		}
		if defaults == nil {
			defaults = &wfv1.WorkflowSpec{}
		}
		if req.Sanitize {
			user = wfutil.SanitizeUserWorkflowSpec(user)
		}
		merged, err := wfutil.JoinWorkflowSpec(user, tmpl, defaults)
		if err != nil {
			return map[string]interface{}{"error": err.Error()}
		}
		return map[string]interface{}{"spec": merged.Spec}
	case "overrides":
		user, err := decodeSpec(req.Workflow)
		if err != nil {
			return map[string]interface{}{"error": "workflow: " + err.Error()}
		}
		if err := wfutil.ValidateUserOverrides(user); err != nil {
			return map[string]interface{}{"error": err.Error()}
		}
		return map[string]interface{}{}
	case "defaults":
		target := &wfv1.Workflow{}
		if err := json.Unmarshal(req.Workflow, target); err != nil {
			return map[string]interface{}{"error": "workflow: " + err.Error()}
		}
		patch := &wfv1.Workflow{}
		if err := json.Unmarshal(req.Defaults, patch); err != nil {
			return map[string]interface{}{"error": "defaults: " + err.Error()}
		}
		if err := wfutil.MergeTo(patch, target); err != nil {
			return map[string]interface{}{"error": err.Error()}
		}
		return map[string]interface{}{"workflow": target}
	case "value":
		return value(req.Kind, req.Value)
	case "roundtrip":
		spec, err := decodeSpec(req.Workflow)
		if err != nil {
			return map[string]interface{}{"error": err.Error()}
		}
		return map[string]interface{}{"spec": spec}
	}
	return map[string]interface{}{"error": fmt.Sprintf("unknown op %q", req.Op)}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		var reply map[string]interface{}
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			reply = map[string]interface{}{"error": "request: " + err.Error()}
		} else if err := storeRequest(&req); err != nil {
			reply = map[string]interface{}{"error": "stored: " + err.Error()}
		} else {
			reply = answer(req)
		}
		if err := out.Encode(reply); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
