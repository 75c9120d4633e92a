//! The protobuf form of `/openapi/v2` that client-go's discovery `OpenAPISchema` asks for
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`): gnostic's `openapi.v2.Document`
//! (github.com/google/gnostic openapiv2/OpenAPIv2.proto). Only the messages and fields this
//! server's documents use are declared; field numbers are gnostic's. Vendor extensions carry
//! their value as YAML text, as gnostic does; JSON is YAML, so the JSON text is used.

use prost::Message;
use serde_json::{Map, Value};

#[derive(Clone, PartialEq, Message)]
struct Document {
    #[prost(string, tag = "1")]
    swagger: String,
    #[prost(message, optional, tag = "2")]
    info: Option<Info>,
    #[prost(message, optional, tag = "8")]
    paths: Option<Paths>,
    #[prost(message, optional, tag = "9")]
    definitions: Option<Definitions>,
}

#[derive(Clone, PartialEq, Message)]
struct Info {
    #[prost(string, tag = "1")]
    title: String,
    #[prost(string, tag = "2")]
    version: String,
}

#[derive(Clone, PartialEq, Message)]
struct Paths {
    #[prost(message, repeated, tag = "2")]
    path: Vec<NamedPathItem>,
}

#[derive(Clone, PartialEq, Message)]
struct NamedPathItem {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<PathItem>,
}

#[derive(Clone, PartialEq, Message)]
struct PathItem {
    #[prost(message, optional, tag = "2")]
    get: Option<Operation>,
    #[prost(message, optional, tag = "3")]
    put: Option<Operation>,
    #[prost(message, optional, tag = "4")]
    post: Option<Operation>,
    #[prost(message, optional, tag = "5")]
    delete: Option<Operation>,
    #[prost(message, optional, tag = "8")]
    patch: Option<Operation>,
    #[prost(message, repeated, tag = "9")]
    parameters: Vec<ParametersItem>,
}

#[derive(Clone, PartialEq, Message)]
struct Operation {
    #[prost(string, repeated, tag = "1")]
    tags: Vec<String>,
    #[prost(string, tag = "3")]
    description: String,
    #[prost(string, tag = "5")]
    operation_id: String,
    #[prost(string, repeated, tag = "6")]
    produces: Vec<String>,
    #[prost(string, repeated, tag = "7")]
    consumes: Vec<String>,
    #[prost(message, repeated, tag = "8")]
    parameters: Vec<ParametersItem>,
    #[prost(message, optional, tag = "9")]
    responses: Option<Responses>,
    #[prost(message, repeated, tag = "13")]
    vendor_extension: Vec<NamedAny>,
}

#[derive(Clone, PartialEq, Message)]
struct ParametersItem {
    #[prost(message, optional, tag = "1")]
    parameter: Option<Parameter>,
}

#[derive(Clone, PartialEq, Message)]
struct Parameter {
    #[prost(oneof = "ParameterKind", tags = "1, 2")]
    oneof: Option<ParameterKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum ParameterKind {
    #[prost(message, tag = "1")]
    Body(Box<BodyParameter>),
    #[prost(message, tag = "2")]
    NonBody(NonBodyParameter),
}

#[derive(Clone, PartialEq, Message)]
struct BodyParameter {
    #[prost(string, tag = "2")]
    name: String,
    #[prost(string, tag = "3")]
    r#in: String,
    #[prost(bool, tag = "4")]
    required: bool,
    #[prost(message, optional, tag = "5")]
    schema: Option<Schema>,
}

#[derive(Clone, PartialEq, Message)]
struct NonBodyParameter {
    #[prost(oneof = "NonBodyKind", tags = "3, 4")]
    oneof: Option<NonBodyKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum NonBodyKind {
    #[prost(message, tag = "3")]
    Query(QueryParameter),
    #[prost(message, tag = "4")]
    Path(PathParameter),
}

/// gnostic's `QueryParameterSubSchema` (its field numbers differ from the path one's).
#[derive(Clone, PartialEq, Message)]
struct QueryParameter {
    #[prost(bool, tag = "1")]
    required: bool,
    #[prost(string, tag = "2")]
    r#in: String,
    #[prost(string, tag = "3")]
    description: String,
    #[prost(string, tag = "4")]
    name: String,
    #[prost(string, tag = "6")]
    r#type: String,
    #[prost(bool, tag = "20")]
    unique_items: bool,
}

/// gnostic's `PathParameterSubSchema`.
#[derive(Clone, PartialEq, Message)]
struct PathParameter {
    #[prost(bool, tag = "1")]
    required: bool,
    #[prost(string, tag = "2")]
    r#in: String,
    #[prost(string, tag = "3")]
    description: String,
    #[prost(string, tag = "4")]
    name: String,
    #[prost(string, tag = "5")]
    r#type: String,
    #[prost(bool, tag = "19")]
    unique_items: bool,
}

#[derive(Clone, PartialEq, Message)]
struct Responses {
    #[prost(message, repeated, tag = "1")]
    response_code: Vec<NamedResponseValue>,
}

#[derive(Clone, PartialEq, Message)]
struct NamedResponseValue {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<ResponseValue>,
}

#[derive(Clone, PartialEq, Message)]
struct ResponseValue {
    #[prost(message, optional, tag = "1")]
    response: Option<Response>,
}

#[derive(Clone, PartialEq, Message)]
struct Response {
    #[prost(string, tag = "1")]
    description: String,
    #[prost(message, optional, tag = "2")]
    schema: Option<SchemaItem>,
}

#[derive(Clone, PartialEq, Message)]
struct SchemaItem {
    #[prost(message, optional, tag = "1")]
    schema: Option<Schema>,
}

#[derive(Clone, PartialEq, Message)]
struct Definitions {
    #[prost(message, repeated, tag = "1")]
    additional_properties: Vec<NamedSchema>,
}

#[derive(Clone, PartialEq, Message)]
struct NamedSchema {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Schema>,
}

#[derive(Clone, PartialEq, Message)]
struct Schema {
    #[prost(string, tag = "1")]
    xref: String,
    #[prost(string, tag = "2")]
    format: String,
    #[prost(string, tag = "3")]
    title: String,
    #[prost(string, tag = "4")]
    description: String,
    #[prost(message, optional, tag = "5")]
    default: Option<Any>,
    #[prost(double, optional, tag = "6")]
    multiple_of: Option<f64>,
    #[prost(double, optional, tag = "7")]
    maximum: Option<f64>,
    #[prost(bool, tag = "8")]
    exclusive_maximum: bool,
    #[prost(double, optional, tag = "9")]
    minimum: Option<f64>,
    #[prost(bool, tag = "10")]
    exclusive_minimum: bool,
    #[prost(int64, optional, tag = "11")]
    max_length: Option<i64>,
    #[prost(int64, optional, tag = "12")]
    min_length: Option<i64>,
    #[prost(string, tag = "13")]
    pattern: String,
    #[prost(int64, optional, tag = "14")]
    max_items: Option<i64>,
    #[prost(int64, optional, tag = "15")]
    min_items: Option<i64>,
    #[prost(bool, tag = "16")]
    unique_items: bool,
    #[prost(int64, optional, tag = "17")]
    max_properties: Option<i64>,
    #[prost(int64, optional, tag = "18")]
    min_properties: Option<i64>,
    #[prost(string, repeated, tag = "19")]
    required: Vec<String>,
    #[prost(message, repeated, tag = "20")]
    r#enum: Vec<Any>,
    #[prost(message, optional, boxed, tag = "21")]
    additional_properties: Option<Box<AdditionalPropertiesItem>>,
    #[prost(message, optional, tag = "22")]
    r#type: Option<TypeItem>,
    #[prost(message, optional, tag = "23")]
    items: Option<ItemsItem>,
    #[prost(message, repeated, tag = "24")]
    all_of: Vec<Schema>,
    #[prost(message, optional, tag = "25")]
    properties: Option<Properties>,
    #[prost(bool, tag = "27")]
    read_only: bool,
    #[prost(message, optional, tag = "30")]
    example: Option<Any>,
    #[prost(message, repeated, tag = "31")]
    vendor_extension: Vec<NamedAny>,
}

#[derive(Clone, PartialEq, Message)]
struct AdditionalPropertiesItem {
    #[prost(oneof = "AdditionalKind", tags = "1, 2")]
    oneof: Option<AdditionalKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum AdditionalKind {
    #[prost(message, tag = "1")]
    Schema(Box<Schema>),
    #[prost(bool, tag = "2")]
    Boolean(bool),
}

#[derive(Clone, PartialEq, Message)]
struct TypeItem {
    #[prost(string, repeated, tag = "1")]
    value: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ItemsItem {
    #[prost(message, repeated, tag = "1")]
    schema: Vec<Schema>,
}

#[derive(Clone, PartialEq, Message)]
struct Properties {
    #[prost(message, repeated, tag = "1")]
    additional_properties: Vec<NamedSchema>,
}

/// gnostic's `Any`: only the YAML text (field 2) is used.
#[derive(Clone, PartialEq, Message)]
struct Any {
    #[prost(string, tag = "2")]
    yaml: String,
}

#[derive(Clone, PartialEq, Message)]
struct NamedAny {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Any>,
}

/// Encodes a swagger 2.0 document (as [`super::docs`] builds it) as gnostic's `Document`.
pub(crate) fn encode(doc: &Value) -> Vec<u8> {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let info = doc.get("info").map(|i| Info {
        title: s(i, "title"),
        version: s(i, "version"),
    });
    let paths = doc.get("paths").and_then(Value::as_object).map(|ps| Paths {
        path: ps
            .iter()
            .map(|(name, item)| NamedPathItem {
                name: name.clone(),
                value: Some(path_item(item)),
            })
            .collect(),
    });
    let definitions = doc
        .get("definitions")
        .and_then(Value::as_object)
        .map(|ds| Definitions {
            additional_properties: named_schemas(ds),
        });
    Document {
        swagger: s(doc, "swagger"),
        info,
        paths,
        definitions,
    }
    .encode_to_vec()
}

fn path_item(item: &Value) -> PathItem {
    let op = |verb: &str| item.get(verb).map(operation);
    PathItem {
        get: op("get"),
        put: op("put"),
        post: op("post"),
        delete: op("delete"),
        patch: op("patch"),
        parameters: parameters(item.get("parameters")),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn operation(op: &Value) -> Operation {
    let s = |k: &str| op.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let responses = op
        .get("responses")
        .and_then(Value::as_object)
        .map(|rs| Responses {
            response_code: rs
                .iter()
                .map(|(code, r)| NamedResponseValue {
                    name: code.clone(),
                    value: Some(ResponseValue {
                        response: Some(Response {
                            description: r
                                .get("description")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            schema: r.get("schema").map(|sc| SchemaItem {
                                schema: Some(schema(sc)),
                            }),
                        }),
                    }),
                })
                .collect(),
        });
    Operation {
        tags: strings(op.get("tags")),
        description: s("description"),
        operation_id: s("operationId"),
        produces: strings(op.get("produces")),
        consumes: strings(op.get("consumes")),
        parameters: parameters(op.get("parameters")),
        responses,
        vendor_extension: op.as_object().map(extensions).unwrap_or_default(),
    }
}

fn parameters(ps: Option<&Value>) -> Vec<ParametersItem> {
    let Some(ps) = ps.and_then(Value::as_array) else {
        return Vec::new();
    };
    ps.iter()
        .map(|p| {
            let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let required = p.get("required") == Some(&Value::Bool(true));
            let unique_items = p.get("uniqueItems") == Some(&Value::Bool(true));
            let kind = match p.get("in").and_then(Value::as_str) {
                Some("body") => ParameterKind::Body(Box::new(BodyParameter {
                    name: s("name"),
                    r#in: s("in"),
                    required,
                    schema: p.get("schema").map(schema),
                })),
                Some("path") => ParameterKind::NonBody(NonBodyParameter {
                    oneof: Some(NonBodyKind::Path(PathParameter {
                        required,
                        r#in: s("in"),
                        description: s("description"),
                        name: s("name"),
                        r#type: s("type"),
                        unique_items,
                    })),
                }),
                _ => ParameterKind::NonBody(NonBodyParameter {
                    oneof: Some(NonBodyKind::Query(QueryParameter {
                        required,
                        r#in: s("in"),
                        description: s("description"),
                        name: s("name"),
                        r#type: s("type"),
                        unique_items,
                    })),
                }),
            };
            ParametersItem {
                parameter: Some(Parameter { oneof: Some(kind) }),
            }
        })
        .collect()
}

fn named_schemas(m: &Map<String, Value>) -> Vec<NamedSchema> {
    m.iter()
        .map(|(name, v)| NamedSchema {
            name: name.clone(),
            value: Some(schema(v)),
        })
        .collect()
}

fn any(v: &Value) -> Any {
    Any {
        yaml: v.to_string(),
    }
}

fn extensions(m: &Map<String, Value>) -> Vec<NamedAny> {
    m.iter()
        .filter(|(k, _)| k.starts_with("x-"))
        .map(|(k, v)| NamedAny {
            name: k.clone(),
            value: Some(any(v)),
        })
        .collect()
}

fn schema(v: &Value) -> Schema {
    let Some(m) = v.as_object() else {
        return Schema::default();
    };
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let f = |k: &str| m.get(k).and_then(Value::as_f64);
    let i = |k: &str| m.get(k).and_then(Value::as_i64);
    let b = |k: &str| m.get(k) == Some(&Value::Bool(true));
    let types = match m.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    };
    let additional_properties = match m.get("additionalProperties") {
        Some(Value::Bool(b)) => Some(AdditionalKind::Boolean(*b)),
        Some(a @ Value::Object(_)) => Some(AdditionalKind::Schema(Box::new(schema(a)))),
        _ => None,
    }
    .map(|k| Box::new(AdditionalPropertiesItem { oneof: Some(k) }));
    let items = match m.get("items") {
        Some(Value::Array(xs)) => Some(xs.iter().map(schema).collect()),
        Some(x @ Value::Object(_)) => Some(vec![schema(x)]),
        _ => None,
    }
    .map(|schema| ItemsItem { schema });
    Schema {
        xref: s("$ref"),
        format: s("format"),
        title: s("title"),
        description: s("description"),
        default: m.get("default").map(any),
        multiple_of: f("multipleOf"),
        maximum: f("maximum"),
        exclusive_maximum: b("exclusiveMaximum"),
        minimum: f("minimum"),
        exclusive_minimum: b("exclusiveMinimum"),
        max_length: i("maxLength"),
        min_length: i("minLength"),
        pattern: s("pattern"),
        max_items: i("maxItems"),
        min_items: i("minItems"),
        unique_items: b("uniqueItems"),
        max_properties: i("maxProperties"),
        min_properties: i("minProperties"),
        required: strings(m.get("required")),
        r#enum: m
            .get("enum")
            .and_then(Value::as_array)
            .map(|e| e.iter().map(any).collect())
            .unwrap_or_default(),
        additional_properties,
        r#type: (!types.is_empty()).then_some(TypeItem { value: types }),
        items,
        all_of: m
            .get("allOf")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(schema).collect())
            .unwrap_or_default(),
        properties: m
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| Properties {
                additional_properties: named_schemas(p),
            }),
        read_only: b("readOnly"),
        example: m.get("example").map(any),
        vendor_extension: extensions(m),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_what_kubectl_reads() {
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": {"/apis/apps/v1/namespaces/{namespace}/deployments/{name}": {
                "patch": {"operationId": "patchAppsV1NamespacedDeployment",
                    "parameters": [{"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true}],
                    "x-kubernetes-group-version-kind": {"group": "apps", "kind": "Deployment", "version": "v1"},
                    "responses": {"200": {"description": "OK"}}},
                "parameters": [{"name": "name", "in": "path", "required": true, "type": "string"}]}},
            "definitions": {"io.k8s.api.apps.v1.Deployment": {
                "type": "object",
                "properties": {"spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec", "description": "Spec."},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}},
                "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}]}},
        });
        let bytes = encode(&doc);
        let back = Document::decode(bytes.as_slice()).unwrap();
        assert_eq!(back.swagger, "2.0");
        let path = &back.paths.as_ref().unwrap().path[0];
        let patch = path.value.as_ref().unwrap().patch.as_ref().unwrap();
        let Some(ParameterKind::NonBody(NonBodyParameter {
            oneof: Some(NonBodyKind::Query(q)),
        })) = &patch.parameters[0].parameter.as_ref().unwrap().oneof
        else {
            panic!("fieldValidation is a query parameter");
        };
        assert_eq!(q.name, "fieldValidation");
        assert_eq!(
            patch.vendor_extension[0].name,
            "x-kubernetes-group-version-kind"
        );
        let def = &back.definitions.as_ref().unwrap().additional_properties[0];
        let d = def.value.as_ref().unwrap();
        assert_eq!(d.r#type.as_ref().unwrap().value, vec!["object"]);
        let props = &d.properties.as_ref().unwrap().additional_properties;
        let spec = props.iter().find(|p| p.name == "spec").unwrap();
        assert_eq!(
            spec.value.as_ref().unwrap().xref,
            "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
        );
        let yaml = &d.vendor_extension[0].value.as_ref().unwrap().yaml;
        let gvk: Value = serde_json::from_str(yaml).unwrap();
        assert_eq!(gvk[0]["kind"], "Deployment");
    }
}
