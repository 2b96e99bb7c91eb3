//! Turns bindgen's `extern "C"` declarations into functions that call through
//! a table resolved with `dlopen`/`dlsym` at first use.
//!
//! Binaries then carry no load-time dependency on mlx-c or libmlx: a program
//! starts wherever it is copied, and a missing library becomes an `Err` with
//! a message (see `src/loader.rs`) instead of a loader failure before `main`.
//! The item names and signatures stay those of mlx-c, so callers are unchanged.

use std::fmt::Write as _;

/// One declaration inside an `extern "C"` block.
enum Item {
    Fn {
        docs: Vec<String>,
        name: String,
        params: Vec<(String, String)>,
        ret: Option<String>,
    },
    Static {
        name: String,
        ty: String,
    },
}

/// The bindings with every `extern "C"` block replaced by dynamic calls.
pub fn generate(bindings: &str) -> String {
    let mut plain = String::new();
    let mut items = Vec::new();
    let mut lines = bindings.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() == "unsafe extern \"C\" {" || line.trim_end() == "extern \"C\" {" {
            let mut block = Vec::new();
            for inner in lines.by_ref() {
                if inner == "}" {
                    break;
                }
                block.push(inner.to_string());
            }
            items.push(parse_item(&block));
        } else {
            plain.push_str(line);
            plain.push('\n');
        }
    }

    let mut out = plain;
    out.push_str("\n/// Addresses of every mlx-c symbol, resolved once from the loaded library.\n");
    out.push_str("pub(crate) struct Api {\n");
    for item in &items {
        match item {
            Item::Fn {
                name, params, ret, ..
            } => {
                let _ = writeln!(out, "    {name}: {},", fn_type(params, ret));
            }
            Item::Static { name, ty } => {
                let _ = writeln!(out, "    {name}: *mut {ty},");
            }
        }
    }
    out.push_str("}\n\n");
    out.push_str(
        "impl Api {\n\
         \x20   /// Looks up every symbol in `lib`, a handle from `dlopen`.\n\
         \x20   ///\n\
         \x20   /// # Safety\n\
         \x20   /// `lib` must be a live handle to a build of mlx-c whose symbols have\n\
         \x20   /// the declared signatures.\n\
         \x20   pub(crate) unsafe fn resolve(lib: *mut ::std::os::raw::c_void) -> Result<Api, String> {\n\
         \x20       Ok(Api {\n",
    );
    for item in &items {
        match item {
            Item::Fn {
                name, params, ret, ..
            } => {
                let _ = writeln!(
                    out,
                    "            {name}: ::std::mem::transmute::<*mut ::std::os::raw::c_void, {}>(\
                     crate::loader::symbol(lib, c\"{name}\")?),",
                    fn_type(params, ret)
                );
            }
            Item::Static { name, ty } => {
                let _ = writeln!(
                    out,
                    // mlx-c 0.7.0 declares `mlx_array_empty` but defines it nowhere.
                    "            {name}: crate::loader::symbol(lib, c\"{name}\")\
                     .map_or(::std::ptr::null_mut(), |p| p.cast::<{ty}>()),"
                );
            }
        }
    }
    out.push_str("        })\n    }\n}\n\n");

    for item in &items {
        match item {
            Item::Fn {
                docs,
                name,
                params,
                ret,
            } => {
                for doc in docs {
                    out.push_str(doc);
                    out.push('\n');
                }
                let args: Vec<String> = params.iter().map(|(n, t)| format!("{n}: {t}")).collect();
                let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
                let ret_text = ret
                    .as_deref()
                    .map(|r| format!(" -> {r}"))
                    .unwrap_or_default();
                // Reached only when mlx-c could not be loaded, which callers
                // learn from `load()`: a failing status, else an empty value.
                let fallback = match ret.as_deref() {
                    None => "()",
                    Some("::std::os::raw::c_int") => "-1",
                    Some(_) => "::std::mem::zeroed()",
                };
                let _ = writeln!(
                    out,
                    "#[inline]\npub unsafe fn {name}({}){ret_text} {{\n\
                     \x20   match crate::loader::api() {{\n\
                     \x20       Some(api) => (api.{name})({}),\n\
                     \x20       None => {fallback},\n\
                     \x20   }}\n}}",
                    args.join(", "),
                    names.join(", ")
                );
            }
            Item::Static { name, ty } => {
                let _ = writeln!(
                    out,
                    "/// The address of mlx-c's global `{name}` (null if mlx-c is not loaded\n\
                     /// or does not define it).\n\
                     #[inline]\npub unsafe fn {name}() -> *mut {ty} {{\n\
                     \x20   match crate::loader::api() {{\n\
                     \x20       Some(api) => api.{name},\n\
                     \x20       None => ::std::ptr::null_mut(),\n\
                     \x20   }}\n}}"
                );
            }
        }
    }
    out
}

fn fn_type(params: &[(String, String)], ret: &Option<String>) -> String {
    let types: Vec<&str> = params.iter().map(|(_, t)| t.as_str()).collect();
    let ret = ret
        .as_deref()
        .map(|r| format!(" -> {r}"))
        .unwrap_or_default();
    format!("unsafe extern \"C\" fn({}){ret}", types.join(", "))
}

fn parse_item(block: &[String]) -> Item {
    // Doc comments come first (`///` lines or one `/** .. */` comment).
    let mut docs = Vec::new();
    let mut rest = Vec::new();
    let mut in_block_doc = false;
    for line in block {
        let t = line.trim_start();
        if in_block_doc {
            docs.push(line.clone());
            in_block_doc = !t.contains("*/");
        } else if t.starts_with("///") || t.starts_with("#[doc") {
            docs.push(t.to_string());
        } else if t.starts_with("/**") {
            docs.push(t.to_string());
            in_block_doc = !t.contains("*/");
        } else {
            rest.push(t);
        }
    }
    let decl = rest.join(" ");
    let decl = decl.trim();
    if let Some(s) = decl.strip_prefix("pub static mut ") {
        let (name, ty) = s
            .trim_end_matches(';')
            .split_once(':')
            .unwrap_or_else(|| panic!("unexpected static in bindings: {decl}"));
        return Item::Static {
            name: name.trim().to_string(),
            ty: ty.trim().to_string(),
        };
    }
    let s = decl
        .strip_prefix("pub fn ")
        .unwrap_or_else(|| panic!("unexpected item in bindings: {decl}"));
    let open = s.find('(').expect("a parameter list");
    let name = s[..open].trim().to_string();
    let close = matching_paren(s, open);
    let params = split_top_level(&s[open + 1..close])
        .into_iter()
        .map(|p| {
            let (n, t) = p
                .split_once(':')
                .unwrap_or_else(|| panic!("unnamed parameter in {name}: {p}"));
            (n.trim().to_string(), t.trim().to_string())
        })
        .collect();
    let tail = s[close + 1..].trim().trim_end_matches(';').trim();
    let ret = tail
        .strip_prefix("->")
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    assert!(
        !s[open..close].contains("..."),
        "variadic function {name} cannot be called dynamically"
    );
    Item::Fn {
        docs,
        name,
        params,
        ret,
    }
}

/// The index of the `)` closing the `(` at `open`.
fn matching_paren(s: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices().skip_while(|(i, _)| *i < open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in bindings: {s}")
}

/// Splits a parameter list at commas outside `()` and `<>` (function-pointer
/// parameter types hold both; `->` is not a closing bracket).
fn split_top_level(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    let mut prev = ' ';
    for c in s.chars() {
        match c {
            '(' | '<' => depth += 1,
            ')' => depth -= 1,
            '>' if prev != '-' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                prev = c;
                continue;
            }
            _ => {}
        }
        current.push(c);
        prev = c;
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}
