//! Tests of the readers: records, dialects, encodings.

use super::*;

#[test]
fn quoted_newlines_stay_in_their_record_and_lines_are_counted() {
    let data = b"a,b\n1,\"x\ny\"\n2,z\r\n";
    let r = records(data, b'"');
    assert_eq!(r.len(), 3);
    assert_eq!(r[1].2, 2);
    assert_eq!(r[2].2, 4);
    assert_eq!(&data[r[2].0..r[2].1], b"2,z");
}

#[test]
fn broken_records_are_rejected_with_line_and_reason() {
    let mut data = b"id,qty\n1,2\n1,2\n3\n4,\xE9\n\"5,5\",6\n".to_vec();
    data.extend_from_slice(b"");
    let rows = read_csv(Path::new("t.csv"), data, &Dialect::default()).unwrap();
    assert_eq!(rows.rows_read, 5);
    assert_eq!(rows.df.height(), 2);
    let codes: Vec<(u64, &str)> = rows.rejects.iter().map(|r| (r.line, r.code)).collect();
    assert_eq!(
        codes,
        vec![
            (3, "duplicate_row"),
            (4, "wrong_column_count"),
            (5, "invalid_utf8")
        ]
    );
    assert_eq!(rows.raw_of(1), "\"5,5\",6");
    let ids: Vec<Option<&str>> = rows
        .df
        .column("id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(ids, vec![Some("1"), Some("5,5")]);
}

#[test]
fn rejected_records_are_squeezed_out_in_place_and_raw_text_follows_the_survivors() {
    // A byte-order mark, CRLF records, a broken record first and in the middle, a quoted
    // newline, and a last record without a newline.
    let data = b"\xEF\xBB\xBFid,name\r\nbad\r\n1,\"a\nb\"\r\n2\r\n3,c\r\n4,\"d,e\"".to_vec();
    let rows = read_csv(Path::new("t.csv"), data, &Dialect::default()).unwrap();
    assert_eq!(rows.rows_read, 5);
    let codes: Vec<u64> = rows.rejects.iter().map(|r| r.line).collect();
    assert_eq!(codes, vec![2, 5]);
    let col = |name: &str| -> Vec<Option<String>> {
        let c = rows.df.column(name).unwrap().str().unwrap().clone();
        c.iter().map(|v| v.map(str::to_string)).collect()
    };
    assert_eq!(
        col("id"),
        vec![Some("1".into()), Some("3".into()), Some("4".into())]
    );
    assert_eq!(
        col("name"),
        vec![Some("a\nb".into()), Some("c".into()), Some("d,e".into())]
    );
    let lines: Vec<Option<u64>> = rows
        .df
        .column(LINE_COL)
        .unwrap()
        .u64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(lines, vec![Some(3), Some(6), Some(7)]);
    let raw: Vec<String> = (0..3).map(|i| rows.raw_of(i)).collect();
    assert_eq!(raw, vec!["1,\"a\nb\"", "3,c", "4,\"d,e\""]);
}

#[test]
fn jsonl_values_become_text_and_non_objects_are_rejected() {
    let data = b"{\"id\":\"a\",\"qty\":2}\n[1]\n{\"id\":\"b\",\"qty\":\"x\"}\n".to_vec();
    let rows = read_jsonl(data).unwrap();
    assert_eq!(rows.rows_read, 3);
    assert_eq!(rows.rejects[0].code, "invalid_json");
    let q: Vec<Option<&str>> = rows
        .df
        .column("qty")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(q, vec![Some("2"), Some("x")]);
}

mod dialect_tests {
    use super::super::*;

    fn texts(rows: &FileRows, name: &str) -> Vec<Option<String>> {
        let c = rows.df.column(name).unwrap().str().unwrap().clone();
        c.iter().map(|v| v.map(str::to_string)).collect()
    }

    fn lines(rows: &FileRows) -> Vec<u64> {
        let c = rows.df.column(LINE_COL).unwrap().u64().unwrap().clone();
        c.iter().flatten().collect()
    }

    #[test]
    fn an_inch_mark_in_an_unquoted_tab_export_is_an_ordinary_character() {
        let data = b"code\tdesc\tqty\nA\tRECORD FRAME 7\" SINGLE SIZE\t2\nB\t\"quoted\ttab\"\t3\nC\tplain\t4\n";
        let d = Dialect {
            delimiter: b'\t',
            ..Dialect::default()
        };
        let rows = read_csv(Path::new("t.tsv"), data.to_vec(), &d).unwrap();
        assert_eq!(rows.rows_read, 3);
        assert!(rows.rejects.is_empty());
        assert_eq!(
            texts(&rows, "desc"),
            vec![
                Some("RECORD FRAME 7\" SINGLE SIZE".into()),
                Some("quoted\ttab".into()),
                Some("plain".into())
            ]
        );
        assert_eq!(lines(&rows), vec![2, 3, 4]);
        assert_eq!(rows.raw_of(0), "A\tRECORD FRAME 7\" SINGLE SIZE\t2");
    }

    #[test]
    fn without_quoting_a_leading_quote_is_kept() {
        let data = b"id;name\n1;\"Big\" box\n2;x\n";
        let d = Dialect {
            delimiter: b';',
            quote: None,
            ..Dialect::default()
        };
        let rows = read_csv(Path::new("t.csv"), data.to_vec(), &d).unwrap();
        assert_eq!(
            texts(&rows, "name"),
            vec![Some("\"Big\" box".into()), Some("x".into())]
        );
    }

    #[test]
    fn skipped_lines_comments_and_escapes_keep_line_numbers() {
        let data = b"Sales export\nprinted 2024-01-02\nid,name\n# a comment\n1,\"a \\\"b\\\" c\"\n\n2,\"x\ny\"\n3,z\n".to_vec();
        let d = Dialect {
            skip_rows: 2,
            comment: Some(b'#'),
            escape: Some(b'\\'),
            ..Dialect::default()
        };
        let rows = read_csv(Path::new("t.csv"), data, &d).unwrap();
        assert_eq!(rows.rows_read, 3);
        assert_eq!(
            texts(&rows, "name"),
            vec![
                Some("a \"b\" c".into()),
                Some("x\ny".into()),
                Some("z".into())
            ]
        );
        assert_eq!(lines(&rows), vec![5, 7, 9]);
        assert_eq!(rows.raw_of(1), "2,\"x\ny\"");
    }

    #[test]
    fn windows_1252_and_utf16_decode_to_the_same_text() {
        let utf8 = "id,name\n1,Müller-Großé\n2,Søren\n";
        let cp1252 = encoding_rs::WINDOWS_1252.encode(utf8).0.into_owned();
        let mut utf16 = vec![0xFF, 0xFE];
        for u in utf8.encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        for (data, enc) in [
            (cp1252.clone(), Encoding::Windows1252),
            (utf16, Encoding::Utf16),
            (utf8.as_bytes().to_vec(), Encoding::Utf8),
        ] {
            let f = Path::new("c.csv");
            let rows = read_csv(f, decode(f, data, enc).unwrap(), &Dialect::default()).unwrap();
            assert_eq!(
                texts(&rows, "name"),
                vec![Some("Müller-Großé".into()), Some("Søren".into())],
                "{enc:?}"
            );
        }
        // Read as UTF-8, the Windows-1252 file has two bad records of two: refused whole.
        let f = Path::new("c.csv");
        let rows = read_csv(f, cp1252.clone(), &Dialect::default()).unwrap();
        assert_eq!(rows.rejects.len(), 2);
        let err = check_encoding(f, &rows, 0.05).unwrap_err().to_string();
        assert!(err.contains("2 of 2 records"), "{err}");
        assert!(err.contains("encoding = \"windows-1252\""), "{err}");
        // A UTF-8 file declared Windows-1252 is refused rather than garbled.
        let err = decode(f, utf8.as_bytes().to_vec(), Encoding::Windows1252)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("valid UTF-8"), "{err}");
        // UTF-16 without a byte-order mark.
        assert!(decode(f, b"a\0".to_vec(), Encoding::Utf16).is_err());
    }
}
