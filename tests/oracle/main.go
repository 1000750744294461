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
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	wfutil "github.com/argoproj/argo-workflows/v3/workflow/util"
)

type request struct {
	Op       string          `json:"op"`
	Workflow json.RawMessage `json:"workflow"`
	Template json.RawMessage `json:"template"`
	Defaults json.RawMessage `json:"defaults"`
	Sanitize bool            `json:"sanitize"`
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
		} else {
			reply = answer(req)
		}
		if err := out.Encode(reply); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
