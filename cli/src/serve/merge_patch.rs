//! JSON Merge Patch (RFC 7396), over [`Json`] so numbers stay exact and members keep
//! their order (new members go last).

use std::collections::HashSet;

use super::json::{Json, Object};

/// Applies `patch` to `target` as RFC 7396 section 2 describes: an object patch merges
/// member by member, `null` removes a member, anything else replaces the target.
pub fn apply(target: &mut Json, patch: &Json) {
    let Json::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !matches!(target, Json::Object(_)) {
        *target = Json::Object(Object::new());
    }
    let Json::Object(object) = target else {
        unreachable!("made an object above")
    };
    // Removed in one pass at the end: removing one member at a time while keeping the
    // order costs a shift of the members after it, quadratic for a large patch.
    let mut removed = HashSet::new();
    for (name, value) in members {
        if *value == Json::Null {
            removed.insert(name.as_str());
        } else {
            apply(object.entry(name.clone()).or_insert(Json::Null), value);
        }
    }
    if !removed.is_empty() {
        object.retain(|name, _| !removed.contains(name.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exact(value: serde_json::Value) -> Json {
        Json::parse(value.to_string().as_bytes()).unwrap()
    }

    /// The examples of RFC 7396 appendix A.
    #[test]
    fn rfc_7396_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            let mut target = exact(target);
            apply(&mut target, &exact(patch.clone()));
            assert_eq!(target, exact(expected), "patch {patch}");
        }
    }

    #[test]
    fn members_keep_their_place_and_numbers_their_text() {
        let parse = |t: &str| Json::parse(t.as_bytes()).unwrap();
        let mut target = parse(r#"{"z":1.50,"a":1e-400,"m":{"k":-0}}"#);
        apply(
            &mut target,
            &parse(r#"{"a":null,"m":{"j":12345678901234567890123},"b":2}"#),
        );
        assert_eq!(
            target.to_text(),
            r#"{"z":1.50,"m":{"k":-0,"j":12345678901234567890123},"b":2}"#
        );
    }
}
