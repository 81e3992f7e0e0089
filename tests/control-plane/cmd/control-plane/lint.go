package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsinstall "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/install"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
)

// ruleCost is one x-kubernetes-validations rule as the apiserver's estimator sees it.
type ruleCost struct {
	crd, path, rule string
	// cost is the rule's worst case times the number of times it can run (its cardinality).
	cost uint64
}

// crdLint runs what the apiserver runs when a CRD is created — ValidateCustomResourceDefinition,
// whose CEL cost checks refuse a rule over StaticEstimatedCostLimit and a CRD over
// StaticEstimatedCRDCostLimit — and prints every rule's estimated cost with the same estimator.
// With --max-percent P it also fails when one rule or one CRD exceeds P % of its limit, so that
// the budget keeps headroom rather than passing by a hair.
func crdLint(args []string) error {
	fs := flag.NewFlagSet("crd-lint", flag.ContinueOnError)
	maxPercent := fs.Float64("max-percent", 100, "fail when a rule or a CRD uses more than this share of its limit")
	quiet := fs.Bool("quiet", false, "print only problems and totals")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("crd-lint needs CRD YAML files")
	}
	scheme := runtime.NewScheme()
	apiextensionsinstall.Install(scheme)
	failed := 0
	for _, file := range fs.Args() {
		crds, err := readCRDs(file)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		for _, v1 := range crds {
			scheme.Default(v1)
			internal := &apiextensions.CustomResourceDefinition{}
			if err := scheme.Convert(v1, internal, nil); err != nil {
				return fmt.Errorf("%s: %s: %w", file, v1.Name, err)
			}
			errs := validation.ValidateCustomResourceDefinition(context.Background(), internal)
			for _, e := range errs {
				fmt.Printf("REFUSED %s: %s\n", internal.Name, e.Error())
				failed++
			}
			costs, err := ruleCosts(internal)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", file, internal.Name, err)
			}
			var total uint64
			for _, c := range costs {
				total = saturatingAdd(total, c.cost)
				share := 100 * float64(c.cost) / validation.StaticEstimatedCostLimit
				over := share > *maxPercent
				if over {
					failed++
				}
				if !*quiet || over {
					mark := "  "
					if over {
						mark = "!!"
					}
					fmt.Printf("%s %6.2f%% %12d  %s %s: %s\n", mark, share, c.cost, c.crd, c.path, c.rule)
				}
			}
			share := 100 * float64(total) / validation.StaticEstimatedCRDCostLimit
			if share > *maxPercent {
				failed++
				fmt.Printf("!! %s: total estimated cost %d is %.2f%% of the CRD limit %d\n", internal.Name, total, share, validation.StaticEstimatedCRDCostLimit)
			} else {
				fmt.Printf("   %s: %d rules, total estimated cost %d (%.2f%% of the CRD limit %d; per-rule limit %d)\n",
					internal.Name, len(costs), total, share, validation.StaticEstimatedCRDCostLimit, validation.StaticEstimatedCostLimit)
			}
		}
	}
	if failed > 0 {
		return exitCode{1, fmt.Sprintf("%d problem(s)", failed)}
	}
	return nil
}

func readCRDs(file string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*apiextensionsv1.CustomResourceDefinition
	for {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := decoder.Decode(crd); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if crd.Kind == "CustomResourceDefinition" {
			out = append(out, crd)
		}
	}
}

// ruleCosts walks each version's schema with the apiserver's own CEL schema context (which
// tracks cardinality from maxItems/maxProperties) and compiles each node's rules as it does.
func ruleCosts(crd *apiextensions.CustomResourceDefinition) ([]ruleCost, error) {
	var out []ruleCost
	envSet := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())
	var walk func(s *apiextensions.JSONSchemaProps, ctx *validation.CELSchemaContext, path string) error
	walk = func(s *apiextensions.JSONSchemaProps, ctx *validation.CELSchemaContext, path string) error {
		if s == nil {
			return nil
		}
		if len(s.XValidations) > 0 {
			info, err := ctx.TypeInfo()
			if err != nil || info == nil {
				return fmt.Errorf("%s: no CEL type information: %v", path, err)
			}
			results, err := cel.Compile(info.Schema, info.DeclType, celconfig.PerCallLimit, envSet, cel.NewExpressionsEnvLoader())
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			for i, r := range results {
				cardinality := r.MaxCardinality
				if ctx.MaxCardinality != nil {
					cardinality = *ctx.MaxCardinality
				}
				out = append(out, ruleCost{crd: crd.Name, path: path, rule: s.XValidations[i].Rule, cost: saturatingMul(r.MaxCost, cardinality)})
			}
		}
		names := make([]string, 0, len(s.Properties))
		for name := range s.Properties {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			prop := s.Properties[name]
			if err := walk(&prop, ctx.ChildPropertyContext(&prop, name), path+"."+name); err != nil {
				return err
			}
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			if err := walk(s.AdditionalProperties.Schema, ctx.ChildAdditionalPropertiesContext(s.AdditionalProperties.Schema), path+"[*]"); err != nil {
				return err
			}
		}
		if s.Items != nil && s.Items.Schema != nil {
			if err := walk(s.Items.Schema, ctx.ChildItemsContext(s.Items.Schema), path+"[]"); err != nil {
				return err
			}
		}
		return nil
	}
	for _, v := range crd.Spec.Versions {
		schema := crd.Spec.Validation
		if v.Schema != nil {
			schema = v.Schema
		}
		if schema == nil || schema.OpenAPIV3Schema == nil {
			continue
		}
		if err := walk(schema.OpenAPIV3Schema, validation.RootCELContext(schema.OpenAPIV3Schema), v.Name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func saturatingMul(a, b uint64) uint64 {
	if a != 0 && b > ^uint64(0)/a {
		return ^uint64(0)
	}
	return a * b
}

func saturatingAdd(a, b uint64) uint64 {
	if a > ^uint64(0)-b {
		return ^uint64(0)
	}
	return a + b
}
