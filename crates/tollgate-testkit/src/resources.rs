//! The resources the test API server serves, and the discovery and OpenAPI
//! documents kubectl reads before it acts.

use serde_json::{Value, json};

/// The Kubernetes version the server reports.
pub(crate) const GIT_VERSION: &str = "v1.32.4";

/// One served resource.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResourceDef {
    pub(crate) group: &'static str,
    pub(crate) version: &'static str,
    pub(crate) resource: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) singular: &'static str,
    pub(crate) namespaced: bool,
    pub(crate) short_names: &'static [&'static str],
    /// `(subresource, group, version, kind, verbs)`
    pub(crate) subresources: &'static [(
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    )],
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub(crate) const RESOURCES: &[ResourceDef] = &[
    ResourceDef {
        group: "authentication.k8s.io",
        version: "v1",
        resource: "selfsubjectreviews",
        kind: "SelfSubjectReview",
        singular: "selfsubjectreview",
        namespaced: false,
        short_names: &[],
        subresources: &[],
    },
    ResourceDef {
        group: "authorization.k8s.io",
        version: "v1",
        resource: "selfsubjectaccessreviews",
        kind: "SelfSubjectAccessReview",
        singular: "selfsubjectaccessreview",
        namespaced: false,
        short_names: &[],
        subresources: &[],
    },
    ResourceDef {
        group: "authorization.k8s.io",
        version: "v1",
        resource: "selfsubjectrulesreviews",
        kind: "SelfSubjectRulesReview",
        singular: "selfsubjectrulesreview",
        namespaced: false,
        short_names: &[],
        subresources: &[],
    },
    ResourceDef {
        group: "",
        version: "v1",
        resource: "namespaces",
        kind: "Namespace",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        subresources: &[("status", "", "v1", "Namespace", &["get", "patch", "update"])],
    },
    ResourceDef {
        group: "",
        version: "v1",
        resource: "nodes",
        kind: "Node",
        singular: "node",
        namespaced: false,
        short_names: &["no"],
        subresources: &[("status", "", "v1", "Node", &["get", "patch", "update"])],
    },
    ResourceDef {
        group: "",
        version: "v1",
        resource: "services",
        kind: "Service",
        singular: "service",
        namespaced: true,
        short_names: &["svc"],
        subresources: &[("status", "", "v1", "Service", &["get", "patch", "update"])],
    },
    ResourceDef {
        group: "",
        version: "v1",
        resource: "events",
        kind: "Event",
        singular: "event",
        namespaced: true,
        short_names: &["ev"],
        subresources: &[],
    },
    ResourceDef {
        group: "",
        version: "v1",
        resource: "pods",
        kind: "Pod",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        subresources: &[
            ("status", "", "v1", "Pod", &["get", "patch", "update"]),
            ("log", "", "v1", "Pod", &["get"]),
            ("exec", "", "v1", "PodExecOptions", &["create", "get"]),
            ("attach", "", "v1", "PodAttachOptions", &["create", "get"]),
            ("portforward", "", "v1", "PodPortForwardOptions", &["create", "get"]),
        ],
    },
    ResourceDef {
        group: "",
        version: "v1",
        resource: "secrets",
        kind: "Secret",
        singular: "secret",
        namespaced: true,
        short_names: &[],
        subresources: &[],
    },
    ResourceDef {
        group: "",
        version: "v1",
        resource: "configmaps",
        kind: "ConfigMap",
        singular: "configmap",
        namespaced: true,
        short_names: &["cm"],
        subresources: &[],
    },
    ResourceDef {
        group: "",
        version: "v1",
        resource: "serviceaccounts",
        kind: "ServiceAccount",
        singular: "serviceaccount",
        namespaced: true,
        short_names: &["sa"],
        subresources: &[("token", "authentication.k8s.io", "v1", "TokenRequest", &["create"])],
    },
    ResourceDef {
        group: "apps",
        version: "v1",
        resource: "deployments",
        kind: "Deployment",
        singular: "deployment",
        namespaced: true,
        short_names: &["deploy"],
        subresources: &[
            ("status", "apps", "v1", "Deployment", &["get", "patch", "update"]),
            ("scale", "autoscaling", "v1", "Scale", &["get", "patch", "update"]),
        ],
    },
    ResourceDef {
        group: "batch",
        version: "v1",
        resource: "jobs",
        kind: "Job",
        singular: "job",
        namespaced: true,
        short_names: &[],
        subresources: &[("status", "batch", "v1", "Job", &["get", "patch", "update"])],
    },
    ResourceDef {
        group: "batch",
        version: "v1",
        resource: "cronjobs",
        kind: "CronJob",
        singular: "cronjob",
        namespaced: true,
        short_names: &["cj"],
        subresources: &[("status", "batch", "v1", "CronJob", &["get", "patch", "update"])],
    },
    ResourceDef {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "rolebindings",
        kind: "RoleBinding",
        singular: "rolebinding",
        namespaced: true,
        short_names: &[],
        subresources: &[],
    },
    ResourceDef {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        resource: "clusterrolebindings",
        kind: "ClusterRoleBinding",
        singular: "clusterrolebinding",
        namespaced: false,
        short_names: &[],
        subresources: &[],
    },
];

/// Finds a served resource.
pub(crate) fn find(group: &str, version: &str, resource: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.resource == resource)
}

impl ResourceDef {
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn gv_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

/// `GET /version`
pub(crate) fn version() -> Value {
    json!({
        "major": "1", "minor": "32", "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `GET /api`
pub(crate) fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

/// `GET /apis`
pub(crate) fn api_group_list() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        api_group("apps"),
        api_group("authentication.k8s.io"),
        api_group("authorization.k8s.io"),
        api_group("batch"),
        api_group("rbac.authorization.k8s.io"),
    ]})
}

/// `GET /apis/<group>`
pub(crate) fn api_group(group: &str) -> Value {
    json!({
        "kind": "APIGroup", "apiVersion": "v1", "name": group,
        "versions": [{"groupVersion": format!("{group}/v1"), "version": "v1"}],
        "preferredVersion": {"groupVersion": format!("{group}/v1"), "version": "v1"}
    })
}

/// `GET /api/v1`, `GET /apis/<g>/<v>`: `None` for an unknown group-version.
pub(crate) fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let defs: Vec<&ResourceDef> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if defs.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for d in defs {
        resources.push(json!({
            "name": d.resource, "singularName": d.singular, "namespaced": d.namespaced,
            "kind": d.kind, "verbs": VERBS, "shortNames": d.short_names,
            "categories": if matches!(d.resource, "pods" | "deployments" | "services") { json!(["all"]) } else { json!([]) },
        }));
        for (sub, g, v, kind, verbs) in d.subresources {
            let mut entry = json!({
                "name": format!("{}/{}", d.resource, sub), "singularName": "", "namespaced": d.namespaced,
                "kind": kind, "verbs": verbs,
            });
            if (*g, *v) != (d.group, d.version) {
                entry["group"] = json!(g);
                entry["version"] = json!(v);
            }
            resources.push(entry);
        }
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

/// `GET /openapi/v3`: the index of group-version documents.
pub(crate) fn openapi_v3_index() -> Value {
    json!({"paths": {
        "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=testkit1"},
        "apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=testkit1"},
        "apis/batch/v1": {"serverRelativeURL": "/openapi/v3/apis/batch/v1?hash=testkit1"},
        "apis/rbac.authorization.k8s.io/v1": {"serverRelativeURL": "/openapi/v3/apis/rbac.authorization.k8s.io/v1?hash=testkit1"},
    }})
}

/// `GET /openapi/v3/<gv>`: a minimal document whose POST/PUT/PATCH
/// operations declare `fieldValidation`, which is what kubectl checks before
/// it sends `fieldValidation=Strict` instead of validating client-side.
/// The PATCH operations carry no request body content types, so kubectl
/// computes client-side apply patches from its compiled-in types.
pub(crate) fn openapi_v3_doc(gv_path: &str) -> Option<Value> {
    let defs: Vec<&ResourceDef> = RESOURCES.iter().filter(|r| r.gv_path() == gv_path).collect();
    if defs.is_empty() {
        return None;
    }
    let param = json!([
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
        {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
    ]);
    let mut paths = serde_json::Map::new();
    for d in defs {
        let gvk = json!({"group": d.group, "version": d.version, "kind": d.kind});
        let (collection, item) = if d.namespaced {
            (
                format!("{}/namespaces/{{namespace}}/{}", d.gv_path(), d.resource),
                format!("{}/namespaces/{{namespace}}/{}/{{name}}", d.gv_path(), d.resource),
            )
        } else {
            (
                format!("{}/{}", d.gv_path(), d.resource),
                format!("{}/{}/{{name}}", d.gv_path(), d.resource),
            )
        };
        paths.insert(
            collection,
            json!({"post": {"parameters": param, "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "post",
                            "responses": {"200": {"description": "OK"}}}}),
        );
        paths.insert(
            item,
            json!({
                "put": {"parameters": param, "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "put", "responses": {"200": {"description": "OK"}}},
                "patch": {"parameters": param, "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch", "responses": {"200": {"description": "OK"}}},
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
