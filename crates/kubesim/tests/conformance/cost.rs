//! The CEL cost estimate: kubesim's (crates/kubesim/src/celcost.rs) rule by rule against the
//! API server's own estimator (`control-plane crd-lint`, which runs apiextensions' validation and
//! CEL compiler), and the refusal of a CRD whose rules cost too much, with the same message and
//! causes on both servers.

use std::collections::BTreeMap;

use http::Method;
use serde_json::{Value, json};

use crate::crds::{self, PRODUCT_CRDS};
use crate::harness::*;

/// Rule shapes our CRDs do not use, so that the estimator is held to the real one beyond them:
/// string and list functions, the Kubernetes libraries, nested and unbounded containers (the
/// cardinality fallback), int-or-string, embedded resources, message expressions.
pub const ZOO_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: zoos.conformance.kubesim.dev
spec:
  group: conformance.kubesim.dev
  scope: Namespaced
  names: {plural: zoos, singular: zoo, kind: Zoo, listKind: ZooList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-validations:
        - rule: "self.metadata.name.startsWith('zoo-') || self.metadata.name.size() < 10"
        - rule: "self.kind == 'Zoo' && self.apiVersion.endsWith('/v1')"
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - rule: "self.name.lowerAscii() == self.name"
            - rule: "self.name.split('-').size() <= 3"
            - rule: "self.tags.all(t, t.size() <= 10) && self.tags.exists(t, t == 'a') && self.tags.exists_one(t, t == 'b')"
            - rule: "self.tags.map(t, t.upperAscii()).filter(t, t != '').size() >= 0"
            - rule: "self.tags.isSorted() && self.tags.indexOf('x') < 5 && !('z' in self.tags)"
            - rule: "sets.contains(self.tags, ['a']) && sets.intersects(self.tags, self.moreTags)"
            - rule: "self.ports.map(p, p.number).sum() < 100000 && self.ports.all(p, p.number > 0)"
            - rule: "self.ports.exists(p, p.name.matches('^[a-z]+$') && p.name.contains('x'))"
            - rule: "self.labels.all(k, self.labels[k].size() < 64) && 'x' in self.labels"
            - rule: "self.anything.all(k, k.size() > 0)"
            - rule: "!has(self.replicas) || (type(self.replicas) == int ? self.replicas < 10 : self.replicas.endsWith('%'))"
            - rule: "quantity(self.memory).isGreaterThan(quantity('1Mi')) && isQuantity(self.memory)"
            - rule: "isCIDR(self.network) && cidr(self.network).containsIP(ip('10.0.0.1')) && ip.isCanonical('10.0.0.1')"
            - rule: "isURL(self.endpoint) && url(self.endpoint).getScheme() == 'https'"
            - rule: "duration(self.timeout) < duration('1h') && timestamp(self.since) < timestamp('2030-01-01T00:00:00Z')"
            - rule: "self.name.replace('-', '_').size() < 100 && self.name.indexOf('-') >= 0 && self.tags.join(',').size() < 500"
            - rule: "self.name.find('[0-9]+') != '' || self.name.findAll('[a-z]').size() > 0"
            - rule: "self.matrix.all(row, row.all(cell, cell >= 0))"
            - rule: "size(self.tags) == size(self.moreTags) ? self.name < self.description : self.name > 'a'"
            - rule: "self.description.size() < 1000 || self.description + self.name != ''"
            - rule: "self.ports.size() < 2 || self.ports[0].number != self.ports[1].number"
            - rule: "self.optionalPorts.all(p, p.number > 0)"
              messageExpression: "'bad port in ' + self.name"
            properties:
              name: {type: string, maxLength: 63}
              description: {type: string}
              tags: {type: array, maxItems: 20, items: {type: string, maxLength: 10}}
              moreTags: {type: array, maxItems: 5, items: {type: string, maxLength: 32}}
              ports:
                type: array
                maxItems: 16
                items:
                  type: object
                  required: [name, number]
                  properties:
                    name: {type: string, maxLength: 15}
                    number: {type: integer}
                  x-kubernetes-validations:
                  - rule: "self.number <= 65535"
                  - rule: "self.name.size() > 0"
              optionalPorts:
                type: array
                items:
                  type: object
                  properties:
                    number: {type: integer}
                  x-kubernetes-validations:
                  - rule: "self.number != 22"
              labels:
                type: object
                maxProperties: 10
                additionalProperties: {type: string, maxLength: 63}
              anything:
                type: object
                additionalProperties: {type: string}
              replicas: {x-kubernetes-int-or-string: true}
              memory: {type: string, maxLength: 16}
              network: {type: string, maxLength: 43}
              endpoint: {type: string, maxLength: 256}
              timeout: {type: string, maxLength: 32}
              since: {type: string, format: date-time}
              matrix:
                type: array
                maxItems: 4
                items: {type: array, maxItems: 4, items: {type: integer}}
              template:
                type: object
                x-kubernetes-embedded-resource: true
                x-kubernetes-preserve-unknown-fields: true
                x-kubernetes-validations:
                - rule: "self.kind != '' && self.metadata.name.size() < 100"
              nested:
                type: array
                items:
                  type: object
                  properties:
                    values:
                      type: array
                      items: {type: string}
                      x-kubernetes-validations:
                      - rule: "self.all(v, v.size() < 10)"
"#;

/// A map without maxProperties whose values have no maxLength, read by a regex in a loop: the
/// shape that made the AccessBinding CRD uninstallable.
const COSTLY_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: costlies.conformance.kubesim.dev
spec:
  group: conformance.kubesim.dev
  scope: Namespaced
  names: {plural: costlies, singular: costly, kind: Costly, listKind: CostlyList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              labels:
                type: object
                additionalProperties: {type: string}
                x-kubernetes-validations:
                - rule: "self.all(k, self[k].matches('^[a-z]+$'))"
                  message: values must be lowercase
"#;

/// `crd-lint`'s report: per CRD, each rule's text and estimated cost (times its cardinality).
fn real_costs(docs: &[Value]) -> BTreeMap<String, Vec<(String, u64)>> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crds.yaml");
    let yaml: String = docs
        .iter()
        .map(|d| format!("---\n{}\n", serde_json::to_string(d).unwrap()))
        .collect();
    std::fs::write(&file, yaml).unwrap();
    let out = real()
        .bin
        .run(&["crd-lint", file.to_str().unwrap()])
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = regex::Regex::new(r"^(!!|  ) +[0-9.]+% +(\d+)  (\S+) [^:]*: (.*)$").unwrap();
    let mut costs: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for l in report.lines() {
        if let Some(c) = line.captures(l) {
            costs
                .entry(c[3].to_string())
                .or_default()
                .push((c[4].to_string(), c[2].parse().unwrap()));
        }
    }
    assert!(
        !costs.is_empty(),
        "crd-lint printed no costs:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    costs
}

fn sim_costs(docs: &[Value]) -> BTreeMap<String, Vec<(String, u64)>> {
    let mut costs: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for d in docs {
        let name = d["metadata"]["name"].as_str().unwrap().to_string();
        for v in d["spec"]["versions"].as_array().unwrap() {
            let schema = &v["schema"]["openAPIV3Schema"];
            for c in kubesim::celcost::schema_costs(schema, "") {
                if c.field.ends_with(".rule") {
                    costs
                        .entry(name.clone())
                        .or_default()
                        .push((c.expression, c.cost));
                }
            }
        }
    }
    costs
}

#[test]
fn kubesim_estimates_every_rule_as_the_api_server_does() {
    let mut docs = crds::product_crds();
    docs.extend([
        yaml(crds::CACHE_CRD),
        yaml(crds::WIDGET_CRD),
        yaml(ZOO_CRD),
        yaml(COSTLY_CRD),
    ]);
    let sort = |mut m: BTreeMap<String, Vec<(String, u64)>>| {
        m.values_mut().for_each(|v| v.sort());
        m
    };
    let real = sort(real_costs(&docs));
    let sim = sort(sim_costs(&docs));
    let mut diffs = Vec::new();
    for (crd, rules) in &real {
        let ours = sim.get(crd).cloned().unwrap_or_default();
        for r in rules {
            if !ours.contains(r) {
                let mine: Vec<u64> = ours
                    .iter()
                    .filter(|(x, _)| *x == r.0)
                    .map(|(_, c)| *c)
                    .collect();
                diffs.push(format!("{crd}: {}: real {} kubesim {mine:?}", r.0, r.1));
            }
        }
        if ours.len() != rules.len() {
            diffs.push(format!(
                "{crd}: real estimated {} rules, kubesim {}",
                rules.len(),
                ours.len()
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} estimate(s) differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    // The product's CRDs have every rule and the zoo several (a check that the parse worked).
    assert!(real["redisclusters.cache-operator.io"].len() > 40);
    assert!(real["zoos.conformance.kubesim.dev"].len() > 20);
    let _ = PRODUCT_CRDS;
}

/// Creates a CRD on both servers: refusals are compared whole; a CRD both accept only by its
/// status code (kubesim answers a new CRD already established, the real server establishes it a
/// moment later).
async fn create_crd(b: &Both, crd: &Value) -> u16 {
    let crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let [r, s] = b.call(Method::POST, crds, JSON, crd).await;
    let name = crd["metadata"]["name"].as_str().unwrap();
    if r.status == 201 && s.status == 201 {
        return 201;
    }
    b.compare(&format!("creating {name}"), &r, &s);
    r.status
}

#[tokio::test]
async fn a_crd_whose_rules_cost_too_much_is_refused() {
    let b = Both::new("cost").await;
    assert_eq!(create_crd(&b, &yaml(COSTLY_CRD)).await, 422);
    // The same map bounded is accepted, on both.
    let mut bounded = yaml(COSTLY_CRD);
    let labels = bounded
        .pointer_mut("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/labels")
        .unwrap();
    labels["maxProperties"] = json!(64);
    labels["additionalProperties"]["maxLength"] = json!(63);
    assert_eq!(create_crd(&b, &bounded).await, 201);
    // An expensive messageExpression.
    let mut message = yaml(crds::WIDGET_CRD);
    message["metadata"]["name"] = json!("gadgets.conformance.kubesim.dev");
    message["spec"]["names"] = json!({"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"});
    message
        .pointer_mut(
            "/spec/versions/0/schema/openAPIV3Schema/properties/spec/x-kubernetes-validations/0",
        )
        .unwrap()["messageExpression"] = json!(
        "'ports below 1024 must be privileged: ' + self.ports.filter(p, p.number < 1024 && !p.privileged).map(p, p.name).join(', ')"
    );
    assert_eq!(create_crd(&b, &message).await, 422);
    // Rules each under the per-rule limit but over the CRD's together: 64 entries of at most
    // 36000 characters matched against a 38-character regex cost about 9.2 million each.
    let many = |n: usize, max_length: u64| {
        let mut many = yaml(COSTLY_CRD);
        many["metadata"]["name"] = json!(format!("many{n}s.conformance.kubesim.dev"));
        many["spec"]["names"] = json!({"plural": format!("many{n}s"), "singular": format!("many{n}"), "kind": format!("Many{n}"), "listKind": format!("Many{n}List")});
        let props = many
            .pointer_mut("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties")
            .unwrap();
        *props = json!({});
        for i in 0..n {
            props[format!("m{i}")] = json!({
                "type": "object", "maxProperties": 64,
                // Distinct costs: the API server names the four most expensive, and picks
                // among equal ones in map order.
                "additionalProperties": {"type": "string", "maxLength": max_length - 100 * i as u64},
                "x-kubernetes-validations": [{"rule": "self.all(k, self[k].matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$......'))"}]
            });
        }
        many
    };
    assert_eq!(create_crd(&b, &many(10, 36000)).await, 201);
    assert_eq!(create_crd(&b, &many(13, 36000)).await, 422);
    // One rule a little over the limit: the factor with its decimals.
    assert_eq!(create_crd(&b, &many(1, 40000)).await, 422);
    b.done();
}
