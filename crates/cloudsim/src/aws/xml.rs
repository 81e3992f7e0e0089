//! XML bodies of the AWS Query protocol: `<{Action}Response><{Action}Result>…</{Action}Result>
//! <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata></{Action}Response>` and `<ErrorResponse>`.

use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

pub const NAMESPACE: &str = "http://elasticache.amazonaws.com/doc/2015-02-02/";

/// One XML element: text, children, or empty.
#[derive(Debug, Clone, PartialEq)]
pub struct El {
    name: &'static str,
    content: Content,
}

#[derive(Debug, Clone, PartialEq)]
enum Content {
    Text(String),
    Children(Vec<El>),
}

impl El {
    pub fn text(name: &'static str, value: impl ToString) -> Self {
        Self {
            name,
            content: Content::Text(value.to_string()),
        }
    }

    pub fn node(name: &'static str, children: Vec<El>) -> Self {
        Self {
            name,
            content: Content::Children(children),
        }
    }

    /// A list whose items are each wrapped in `item` (e.g. `<UserIds><member>a</member></UserIds>`).
    pub fn list<S: ToString>(
        name: &'static str,
        item: &'static str,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        Self::node(
            name,
            values.into_iter().map(|v| El::text(item, v)).collect(),
        )
    }

    fn write(&self, w: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        match &self.content {
            Content::Children(c) if c.is_empty() => {
                w.write_event(Event::Empty(BytesStart::new(self.name)))?;
            }
            Content::Children(c) => {
                w.write_event(Event::Start(BytesStart::new(self.name)))?;
                for child in c {
                    child.write(w)?;
                }
                w.write_event(Event::End(BytesEnd::new(self.name)))?;
            }
            Content::Text(t) => {
                w.write_event(Event::Start(BytesStart::new(self.name)))?;
                w.write_event(Event::Text(BytesText::new(t)))?;
                w.write_event(Event::End(BytesEnd::new(self.name)))?;
            }
        }
        Ok(())
    }
}

/// Pushes `<name>value</name>` only when there is a value.
pub fn opt(out: &mut Vec<El>, name: &'static str, value: Option<impl ToString>) {
    if let Some(v) = value {
        out.push(El::text(name, v));
    }
}

fn document(
    root: &str,
    namespace: &str,
    write_body: impl FnOnce(&mut Writer<Vec<u8>>) -> std::io::Result<()>,
) -> String {
    let mut w = Writer::new(Vec::new());
    let result = (|| {
        w.write_event(Event::Start(
            BytesStart::new(root).with_attributes([("xmlns", namespace)]),
        ))?;
        write_body(&mut w)?;
        w.write_event(Event::End(BytesEnd::new(root)))
    })();
    // Writing into a Vec cannot fail.
    debug_assert!(result.is_ok());
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

/// A successful response for `action`.
pub fn response(action: &str, result: Vec<El>, request_id: &str) -> String {
    response_in(NAMESPACE, action, result, request_id)
}

/// A successful response of the API whose XML namespace is `namespace`.
pub fn response_in(namespace: &str, action: &str, result: Vec<El>, request_id: &str) -> String {
    document(&format!("{action}Response"), namespace, |w| {
        let result_name = format!("{action}Result");
        w.write_event(Event::Start(BytesStart::new(result_name.as_str())))?;
        for el in &result {
            el.write(w)?;
        }
        w.write_event(Event::End(BytesEnd::new(result_name.as_str())))?;
        El::node("ResponseMetadata", vec![El::text("RequestId", request_id)]).write(w)
    })
}

/// An error response.
pub fn error(kind: &str, code: &str, message: &str, request_id: &str) -> String {
    error_in(NAMESPACE, kind, code, message, request_id)
}

/// An error response of the API whose XML namespace is `namespace`.
pub fn error_in(
    namespace: &str,
    kind: &str,
    code: &str,
    message: &str,
    request_id: &str,
) -> String {
    document("ErrorResponse", namespace, |w| {
        El::node(
            "Error",
            vec![
                El::text("Type", kind),
                El::text("Code", code),
                El::text("Message", message),
            ],
        )
        .write(w)?;
        El::text("RequestId", request_id).write(w)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_have_result_first_then_metadata() {
        let xml = response(
            "CreateUser",
            vec![
                El::text("UserId", "a&b"),
                El::list("UserGroupIds", "member", ["g"]),
            ],
            "rid",
        );
        assert_eq!(
            xml,
            "<CreateUserResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\"><CreateUserResult>\
             <UserId>a&amp;b</UserId><UserGroupIds><member>g</member></UserGroupIds></CreateUserResult>\
             <ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></CreateUserResponse>"
        );
    }

    #[test]
    fn errors_have_the_query_protocol_shape() {
        let xml = error(
            "Sender",
            "ReplicationGroupNotFoundFault",
            "ReplicationGroup x not found.",
            "rid",
        );
        assert_eq!(
            xml,
            "<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\"><Error><Type>Sender</Type>\
             <Code>ReplicationGroupNotFoundFault</Code><Message>ReplicationGroup x not found.</Message></Error>\
             <RequestId>rid</RequestId></ErrorResponse>"
        );
    }
}
