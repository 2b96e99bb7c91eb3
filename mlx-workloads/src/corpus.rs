//! The offline RAG corpus: Python standard-library docstrings, one passage
//! per documented public function, class or method, and query/passage pairs
//! for recall@10, as written by `mlx-workloads/scripts/rag_corpus.py`.
//!
//! ```sh
//! python3 mlx-workloads/scripts/rag_corpus.py ~/.cache/mlx-rs/rag/stdlib
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Missing or malformed data files (corpus, queries, model files). The
/// message says which file and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError(pub String);

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DataError {}

/// One passage of the corpus.
#[derive(Clone, Debug, PartialEq)]
pub struct Passage {
    /// Its row in the corpus (0-based, in file order).
    pub id: u32,
    /// The documented object, e.g. `json.dumps`.
    pub name: String,
    /// The text that is embedded and returned.
    pub text: String,
}

/// A query and the passage that answers it.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryPair {
    /// The query text (a docstring's summary line).
    pub query: String,
    /// The answering passage's id.
    pub passage_id: u32,
}

/// Where the corpus lives by default: `$MLX_RS_CACHE_DIR/rag/stdlib`, else
/// `~/.cache/mlx-rs/rag/stdlib`.
pub fn default_dir() -> PathBuf {
    crate::cache_dir().join("rag").join("stdlib")
}

fn read(path: &Path) -> Result<String, DataError> {
    std::fs::read_to_string(path).map_err(|e| {
        DataError(format!(
            "cannot read {}: {e} (create it with: python3 mlx-workloads/scripts/rag_corpus.py {})",
            path.display(),
            path.parent()
                .map_or(String::new(), |p| p.display().to_string())
        ))
    })
}

fn lines(path: &Path) -> Result<Vec<(usize, Value)>, DataError> {
    let text = read(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map(|v| (i + 1, v))
                .map_err(|e| DataError(format!("{}:{}: not JSON: {e}", path.display(), i + 1)))
        })
        .collect()
}

fn field<'a>(v: &'a Value, key: &str, path: &Path, line: usize) -> Result<&'a Value, DataError> {
    v.get(key)
        .ok_or_else(|| DataError(format!("{}:{line}: no \"{key}\" field", path.display())))
}

/// Reads `corpus.jsonl` (`{"id", "name", "text"}` per line, ids 0, 1, ...).
/// `Err` for a missing file, a malformed line, an id out of order, an empty
/// text or an empty corpus.
pub fn load_corpus(path: &Path) -> Result<Vec<Passage>, DataError> {
    let mut out = Vec::new();
    for (line, v) in lines(path)? {
        let id = field(&v, "id", path, line)?.as_u64();
        let name = field(&v, "name", path, line)?.as_str();
        let text = field(&v, "text", path, line)?.as_str();
        match (id, name, text) {
            (Some(id), Some(name), Some(text))
                if id == out.len() as u64 && !text.trim().is_empty() =>
            {
                out.push(Passage {
                    id: id as u32,
                    name: name.to_string(),
                    text: text.to_string(),
                })
            }
            _ => {
                return Err(DataError(format!(
                    "{}:{line}: expected id {} with a name and a non-empty text",
                    path.display(),
                    out.len()
                )))
            }
        }
    }
    if out.is_empty() {
        return Err(DataError(format!(
            "{}: the corpus is empty",
            path.display()
        )));
    }
    Ok(out)
}

/// Reads `queries.jsonl` (`{"query", "passage_id"}` per line) for a corpus
/// of `passages` passages. `Err` for a missing file, a malformed line, an
/// empty query or a passage id outside the corpus.
pub fn load_queries(path: &Path, passages: usize) -> Result<Vec<QueryPair>, DataError> {
    let mut out = Vec::new();
    for (line, v) in lines(path)? {
        let query = field(&v, "query", path, line)?.as_str();
        let pid = field(&v, "passage_id", path, line)?.as_u64();
        match (query, pid) {
            (Some(q), Some(p)) if !q.trim().is_empty() && (p as usize) < passages => {
                out.push(QueryPair {
                    query: q.to_string(),
                    passage_id: p as u32,
                })
            }
            _ => {
                return Err(DataError(format!(
                    "{}:{line}: expected a non-empty query and a passage_id below {passages}",
                    path.display()
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rag-corpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_passages_and_pairs() {
        let c = file(
            "c.jsonl",
            "{\"id\": 0, \"name\": \"a.f\", \"text\": \"a.f: does f\"}\n\n{\"id\": 1, \"name\": \"b.g\", \"text\": \"b.g: g\"}\n",
        );
        let corpus = load_corpus(&c).unwrap();
        assert_eq!(corpus.len(), 2);
        assert_eq!(corpus[1].name, "b.g");
        let q = file("q.jsonl", "{\"query\": \"what is g\", \"passage_id\": 1}\n");
        assert_eq!(
            load_queries(&q, 2).unwrap(),
            [QueryPair {
                query: "what is g".into(),
                passage_id: 1
            }]
        );
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let missing = std::env::temp_dir().join("no-such-dir-rag/corpus.jsonl");
        assert!(load_corpus(&missing)
            .unwrap_err()
            .0
            .contains("rag_corpus.py"));
        let empty = file("e.jsonl", "\n");
        assert!(load_corpus(&empty).unwrap_err().0.contains("empty"));
        let broken = file("b.jsonl", "{\"id\": 0,\n");
        assert!(load_corpus(&broken).unwrap_err().0.contains(":1: not JSON"));
        let gap = file("g.jsonl", "{\"id\": 1, \"name\": \"x\", \"text\": \"t\"}\n");
        assert!(load_corpus(&gap).unwrap_err().0.contains("expected id 0"));
        let q = file("q2.jsonl", "{\"query\": \"x\", \"passage_id\": 5}\n");
        assert!(load_queries(&q, 2).unwrap_err().0.contains("below 2"));
        let q = file("q3.jsonl", "{\"query\": \" \", \"passage_id\": 0}\n");
        assert!(load_queries(&q, 2)
            .unwrap_err()
            .0
            .contains("non-empty query"));
    }
}
