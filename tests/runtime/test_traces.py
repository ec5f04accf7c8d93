import numpy as np
import pytest

from llmsim.diagnostics import UserError
from llmsim.runtime.traces import read_trace

from .rt_helpers import FIXTURES

AZURE = FIXTURES / "azure_conv_excerpt.csv"
MOONCAKE = FIXTURES / "mooncake_conversation_excerpt.jsonl"
SHAREGPT = FIXTURES / "sharegpt_excerpt.jsonl"
VIDUR = FIXTURES / "vidur_splitwise_conv_excerpt.csv"


def test_azure_csv():
    t = read_trace(AZURE, "azure")
    assert len(t) == 40
    assert list(t.prompt_tokens[:3]) == [374, 396, 879]
    assert list(t.output_tokens[:3]) == [44, 109, 55]
    rel = t.arrival_ns - t.arrival_ns[0]
    assert list(rel[:3]) == [0, 4_314_579_000, 4_541_877_000]  # exact to the 100 ns of the trace
    assert t.token_ids is None and t.hash_ids is None


def test_vidur_csv_matches_the_azure_trace_it_was_made_from():
    v, a = read_trace(VIDUR, "vidur"), read_trace(AZURE, "azure", limit=30)
    assert len(v) == 30
    assert np.array_equal(v.prompt_tokens, a.prompt_tokens)
    assert np.array_equal(v.output_tokens, a.output_tokens)
    assert np.array_equal(v.arrival_ns, (a.arrival_ns - a.arrival_ns[0] + 500) // 1000 * 1000)


def test_mooncake_jsonl():
    t = read_trace(MOONCAKE, "mooncake")
    assert len(t) == 40
    assert list(t.prompt_tokens[:2]) == [6758, 7322]
    assert list(t.output_tokens[:2]) == [500, 490]
    assert t.arrival_ns[-1] == 12_000 * 1_000_000
    assert list(t.hash_ids[0]) == list(range(14))
    assert list(t.hash_ids[1][:2]) == [0, 14]


def test_sharegpt_jsonl_with_token_ids():
    t = read_trace(SHAREGPT, "sharegpt")
    assert len(t) == 20
    assert list(t.prompt_tokens[:2]) == [2358, 1034]
    assert list(t.output_tokens[:2]) == [531, 769]
    assert list(t.arrival_ns[:2]) == [46_926_808, 347_938_951]
    assert len(t.token_ids[0]) == 2358 and list(t.token_ids[1][:3]) == [791, 4360, 67145]


def test_limit_takes_the_first_requests():
    t = read_trace(SHAREGPT, "sharegpt", limit=3)
    assert len(t) == 3 and len(t.token_ids) == 3


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_bad_json_names_file_and_line(tmp_path):
    p = write(tmp_path, "t.jsonl", '{"input_toks": 3, "output_toks": 2, "arrival_time_ns": 0}\n\n{oops\n')
    with pytest.raises(UserError) as e:
        read_trace(p, "sharegpt")
    assert (
        e.value.message
        == f"{p}:3: not valid JSON (Expecting property name enclosed in double quotes at column 2)"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"input_toks": 3, "arrival_time_ns": 0}', "missing `output_toks`"),
        (
            '{"input_toks": 0, "output_toks": 2, "arrival_time_ns": 0}',
            "`input_toks` must be a positive integer, got 0",
        ),
        (
            '{"input_toks": 3, "output_toks": 2, "arrival_time_ns": -5}',
            "`arrival_time_ns` must not be negative, got -5",
        ),
        (
            '{"input_toks": 3, "output_toks": 2, "arrival_time_ns": 0, "input_tok_ids": [1, 2, 3]}',
            "`input_tok_ids` must be given on every line or on none",
        ),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_sharegpt_lines(tmp_path, line, message):
    p = write(
        tmp_path, "t.jsonl", '{"input_toks": 3, "output_toks": 2, "arrival_time_ns": 0}\n' + line + "\n"
    )
    with pytest.raises(UserError) as e:
        read_trace(p, "sharegpt")
    assert e.value.message == f"{p}:2: {message}"


def test_token_ids_must_match_the_prompt_length(tmp_path):
    p = write(
        tmp_path,
        "t.jsonl",
        '{"input_toks": 3, "output_toks": 2, "arrival_time_ns": 0, "input_tok_ids": [1, 2]}',
    )
    with pytest.raises(UserError) as e:
        read_trace(p, "sharegpt")
    assert e.value.message == f"{p}:1: `input_tok_ids` has 2 ids but `input_toks` is 3"


def test_bad_mooncake_hash_ids(tmp_path):
    p = write(
        tmp_path, "m.jsonl", '{"timestamp": 1, "input_length": 5, "output_length": 1, "hash_ids": "x"}\n'
    )
    with pytest.raises(UserError) as e:
        read_trace(p, "mooncake")
    assert e.value.message == f"{p}:1: `hash_ids` must be a list of integers"


def test_azure_bad_timestamp_and_missing_column(tmp_path):
    p = write(
        tmp_path, "a.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,3,4\nyesterday,3,4\n"
    )
    with pytest.raises(UserError) as e:
        read_trace(p, "azure")
    assert e.value.message == f"{p}:3: `TIMESTAMP` is not a date and time: 'yesterday'"
    p = write(tmp_path, "b.csv", "TIMESTAMP,ContextToken,GeneratedTokens\n2023-11-16 18:15:46,3,4\n")
    with pytest.raises(UserError) as e:
        read_trace(p, "azure")
    assert e.value.message == f"{p}:1: missing column `ContextTokens`"
    assert e.value.help == "did you mean `ContextToken` or `GeneratedTokens`?"


def test_csv_field_count_and_numbers(tmp_path):
    p = write(tmp_path, "v.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0.5,3,4\n1.5,3\n")
    with pytest.raises(UserError) as e:
        read_trace(p, "vidur")
    assert e.value.message == f"{p}:3: expected 3 fields, found 2"
    p = write(tmp_path, "w.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\nsoon,3,4\n")
    with pytest.raises(UserError) as e:
        read_trace(p, "vidur")
    assert e.value.message == f"{p}:2: `arrived_at` must be a number, got 'soon'"


def test_vidur_without_arrivals_has_lengths_only(tmp_path):
    p = write(tmp_path, "l.csv", "num_prefill_tokens,num_decode_tokens,pd_ratio\n10,2,5.0\n7,1,7.0\n")
    t = read_trace(p, "vidur")
    assert t.arrival_ns is None and list(t.prompt_tokens) == [10, 7]


def test_unreadable_and_unknown(tmp_path):
    with pytest.raises(UserError, match=r"cannot read trace .*nope\.jsonl: No such file or directory"):
        read_trace(tmp_path / "nope.jsonl", "sharegpt")
    with pytest.raises(UserError, match="unknown trace format `moon`") as e:
        read_trace(MOONCAKE, "moon")
    assert e.value.help == "did you mean `mooncake`?"
    p = tmp_path / "bin.jsonl"
    p.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UserError, match="not UTF-8"):
        read_trace(p, "sharegpt")
    p = write(tmp_path, "empty.jsonl", "\n")
    with pytest.raises(UserError, match="has no requests"):
        read_trace(p, "sharegpt")
