"""The team's own code samples, one protected function and one unrelated function per language.

`LOCALS` lists the names each protected sample binds itself, so tests can
rename them consistently; `disguise` renames and reformats at run time.
"""

from __future__ import annotations

import random
import re

PROTECTED: dict[str, str] = {
    "python": '''
def merge_intervals(spans, tolerance=0):
    """Merge overlapping intervals, allowing a small gap between them."""
    ordered = sorted(spans, key=lambda pair: (pair[0], pair[1]))
    merged = []
    for start, end in ordered:
        if merged and start <= merged[-1][1] + tolerance:
            previous = merged.pop()
            merged.append((previous[0], max(previous[1], end)))
        else:
            merged.append((start, end))
    total = 0
    for start, end in merged:
        total += end - start
    report = {"count": len(merged), "covered": total}
    if tolerance:
        report["tolerance"] = tolerance
    return merged, report
''',
    "javascript": """
function mergeIntervals(spans, tolerance = 0) {
  const ordered = [...spans].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged = [];
  for (const [start, end] of ordered) {
    const last = merged[merged.length - 1];
    if (last && start <= last[1] + tolerance) {
      last[1] = Math.max(last[1], end);
    } else {
      merged.push([start, end]);
    }
  }
  let total = 0;
  for (const [start, end] of merged) {
    total += end - start;
  }
  const report = { count: merged.length, covered: total };
  if (tolerance) {
    report.slack = tolerance;
  }
  return { merged, report };
}
""",
    "typescript": """
function mergeIntervals(spans: Array<[number, number]>, tolerance: number = 0): Summary {
  const ordered = [...spans].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: Array<[number, number]> = [];
  for (const [start, end] of ordered) {
    const last = merged[merged.length - 1];
    if (last !== undefined && start <= last[1] + tolerance) {
      last[1] = Math.max(last[1], end);
    } else {
      merged.push([start, end]);
    }
  }
  let total: number = 0;
  for (const [start, end] of merged) {
    total += end - start;
  }
  const report: Report = { count: merged.length, covered: total };
  if (tolerance > 0) {
    report.slack = tolerance;
  }
  return { merged, report };
}
""",
    "java": """
class Intervals {
    static List<int[]> mergeIntervals(List<int[]> spans, int tolerance) {
        List<int[]> ordered = new ArrayList<>(spans);
        ordered.sort((a, b) -> a[0] != b[0] ? Integer.compare(a[0], b[0])
                                            : Integer.compare(a[1], b[1]));
        List<int[]> merged = new ArrayList<>();
        for (int[] span : ordered) {
            if (!merged.isEmpty() && span[0] <= merged.get(merged.size() - 1)[1] + tolerance) {
                int[] last = merged.get(merged.size() - 1);
                last[1] = Math.max(last[1], span[1]);
            } else {
                merged.add(new int[] {span[0], span[1]});
            }
        }
        long total = 0;
        for (int[] span : merged) {
            total += span[1] - span[0];
        }
        if (tolerance > 0 && total > 0) {
            System.err.println("merged with tolerance " + tolerance);
        }
        return merged;
    }
}
""",
    "c": """
static size_t merge_intervals(struct span *spans, size_t count, long tolerance, long *covered) {
    size_t out = 0;
    long total = 0;
    qsort(spans, count, sizeof(struct span), compare_spans);
    for (size_t i = 0; i < count; i++) {
        if (out > 0 && spans[i].start <= spans[out - 1].end + tolerance) {
            if (spans[i].end > spans[out - 1].end) {
                spans[out - 1].end = spans[i].end;
            }
        } else {
            spans[out] = spans[i];
            out++;
        }
    }
    for (size_t j = 0; j < out; j++) {
        total += spans[j].end - spans[j].start;
    }
    if (covered != NULL) {
        *covered = total;
    }
    return out;
}
""",
    "cpp": """
std::vector<Span> mergeIntervals(std::vector<Span> spans, long tolerance, long &covered) {
    std::sort(spans.begin(), spans.end(), [](const Span &a, const Span &b) {
        return a.start != b.start ? a.start < b.start : a.end < b.end;
    });
    std::vector<Span> merged;
    for (const auto &span : spans) {
        if (!merged.empty() && span.start <= merged.back().end + tolerance) {
            merged.back().end = std::max(merged.back().end, span.end);
        } else {
            merged.push_back(span);
        }
    }
    long total = 0;
    for (const auto &span : merged) {
        total += span.end - span.start;
    }
    covered = total;
    if (tolerance > 0) {
        std::clog << "merged with tolerance " << tolerance << std::endl;
    }
    return merged;
}
""",
    "go": """
package intervals

func MergeIntervals(spans []Span, tolerance int) ([]Span, int) {
	ordered := append([]Span(nil), spans...)
	sort.Slice(ordered, func(i, j int) bool {
		if ordered[i].Start != ordered[j].Start {
			return ordered[i].Start < ordered[j].Start
		}
		return ordered[i].End < ordered[j].End
	})
	merged := []Span{}
	for _, span := range ordered {
		if len(merged) > 0 && span.Start <= merged[len(merged)-1].End+tolerance {
			last := &merged[len(merged)-1]
			if span.End > last.End {
				last.End = span.End
			}
		} else {
			merged = append(merged, span)
		}
	}
	total := 0
	for _, span := range merged {
		total += span.End - span.Start
	}
	return merged, total
}
""",
    "rust": """
pub fn merge_intervals(spans: &[Span], tolerance: i64) -> (Vec<Span>, i64) {
    let mut ordered = spans.to_vec();
    ordered.sort_by(|a, b| a.start.cmp(&b.start).then(a.end.cmp(&b.end)));
    let mut merged: Vec<Span> = Vec::new();
    for span in ordered {
        match merged.last_mut() {
            Some(last) if span.start <= last.end + tolerance => {
                if span.end > last.end {
                    last.end = span.end;
                }
            }
            _ => merged.push(span),
        }
    }
    let mut total = 0;
    for span in &merged {
        total += span.end - span.start;
    }
    if tolerance > 0 {
        eprintln!("merged with tolerance {}", tolerance);
    }
    (merged, total)
}
""",
}
PROTECTED["tsx"] = PROTECTED["typescript"]

PROTECTED["csharp"] = """
class Intervals
{
    public static List<int[]> MergeIntervals(List<int[]> spans, int tolerance)
    {
        var ordered = spans.OrderBy(span => span[0]).ThenBy(span => span[1]).ToList();
        var merged = new List<int[]>();
        foreach (var span in ordered)
        {
            if (merged.Count > 0 && span[0] <= merged[merged.Count - 1][1] + tolerance)
            {
                var last = merged[merged.Count - 1];
                last[1] = Math.Max(last[1], span[1]);
            }
            else
            {
                merged.Add(new[] { span[0], span[1] });
            }
        }
        long total = 0;
        foreach (var item in merged)
        {
            total += item[1] - item[0];
        }
        if (tolerance > 0 && total > 0)
        {
            Console.Error.WriteLine($"merged with tolerance {tolerance}");
        }
        return merged;
    }
}
"""
PROTECTED["ruby"] = """
def merge_intervals(spans, tolerance = 0)
  ordered = spans.sort_by { |pair| [pair[0], pair[1]] }
  merged = []
  ordered.each do |start, finish|
    if !merged.empty? && start <= merged.last[1] + tolerance
      previous = merged.pop
      merged.push([previous[0], [previous[1], finish].max])
    else
      merged.push([start, finish])
    end
  end
  total = 0
  merged.each { |lo, hi| total += hi - lo }
  report = { count: merged.length, covered: total }
  report[:slack] = tolerance if tolerance > 0
  [merged, report]
end
"""
PROTECTED["php"] = """<?php
function merge_intervals(array $spans, int $tolerance = 0): array
{
    usort($spans, function ($a, $b) {
        return $a[0] <=> $b[0] ?: $a[1] <=> $b[1];
    });
    $merged = [];
    foreach ($spans as $span) {
        $size = count($merged);
        if ($size > 0 && $span[0] <= $merged[$size - 1][1] + $tolerance) {
            $merged[$size - 1][1] = max($merged[$size - 1][1], $span[1]);
        } else {
            $merged[] = [$span[0], $span[1]];
        }
    }
    $total = 0;
    foreach ($merged as $item) {
        $total += $item[1] - $item[0];
    }
    return ['merged' => $merged, 'covered' => $total, 'slack' => $tolerance];
}
"""
PROTECTED["kotlin"] = """
fun mergeIntervals(spans: List<IntArray>, tolerance: Int = 0): Pair<List<IntArray>, Long> {
    val ordered = spans.sortedWith(compareBy({ it[0] }, { it[1] }))
    val merged = mutableListOf<IntArray>()
    for (span in ordered) {
        if (merged.isNotEmpty() && span[0] <= merged.last()[1] + tolerance) {
            val previous = merged.last()
            previous[1] = maxOf(previous[1], span[1])
        } else {
            merged.add(intArrayOf(span[0], span[1]))
        }
    }
    var total = 0L
    for (item in merged) {
        total += item[1] - item[0]
    }
    if (tolerance > 0) {
        System.err.println("merged with tolerance $tolerance")
    }
    return Pair(merged, total)
}
"""
PROTECTED["bash"] = """
archive_logs() {
    local source_dir="$1"
    local target="$2"
    count=0
    for file in "$source_dir"/*.log; do
        if [ -s "$file" ]; then
            base=$(basename "$file" .log)
            gzip -c "$file" > "$target/$base.gz"
            count=$((count + 1))
            rm -f "$file"
        fi
    done
    total=$(du -sh "$target" | cut -f1)
    echo "archived $count files, $total"
    if [ "$count" -eq 0 ]; then
        logger -t archive "nothing to archive in $source_dir"
        return 1
    fi
    find "$target" -name '*.gz' -mtime +30 -delete
    return 0
}
"""

#: Languages without a grammar here, read by the lexical tokenizer: the team's
#: own interval merging once more, and the names each declares.
LEXICAL: dict[str, str] = {}
LEXICAL["lua"] = """
local function merge_ranges(ranges, slack)
  table.sort(ranges, function(left, right) return left[1] < right[1] end)
  local merged = {}
  for index, range in ipairs(ranges) do
    local last = merged[#merged]
    if last ~= nil and range[1] <= last[2] + slack then
      last[2] = math.max(last[2], range[2])
    else
      merged[#merged + 1] = { range[1], range[2] }
    end
  end
  local covered = 0
  for _, span in ipairs(merged) do
    covered = covered + (span[2] - span[1])
  end
  return merged, covered
end
"""
LEXICAL["swift"] = """
func mergeRanges(_ ranges: [ClosedRange<Int>], slack: Int) -> ([ClosedRange<Int>], Int) {
    let ordered = ranges.sorted { left, right in left.lowerBound < right.lowerBound }
    var merged: [ClosedRange<Int>] = []
    for range in ordered {
        if let last = merged.last, range.lowerBound <= last.upperBound + slack {
            merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
        } else {
            merged.append(range)
        }
    }
    var covered = 0
    for span in merged {
        covered += span.upperBound - span.lowerBound
    }
    return (merged, covered)
}
"""
LEXICAL["scala"] = """
def mergeRanges(ranges: Seq[(Int, Int)], slack: Int): (List[(Int, Int)], Int) = {
  val ordered = ranges.sortBy(range => range._1)
  var merged = List.empty[(Int, Int)]
  for (range <- ordered) {
    merged match {
      case last :: rest if range._1 <= last._2 + slack =>
        merged = (last._1, math.max(last._2, range._2)) :: rest
      case _ =>
        merged = range :: merged
    }
  }
  val result = merged.reverse
  var covered = 0
  for (span <- result) {
    covered += span._2 - span._1
  }
  (result, covered)
}
"""
LEXICAL["r"] = """
merge_ranges <- function(ranges, slack = 0) {
  ordered <- ranges[order(ranges$start), ]
  merged <- ordered[1, ]
  for (index in seq_len(nrow(ordered))[-1]) {
    current <- ordered[index, ]
    last <- nrow(merged)
    if (current$start <= merged$end[last] + slack) {
      merged$end[last] <- max(merged$end[last], current$end)
    } else {
      merged <- rbind(merged, current)
    }
  }
  covered <- sum(merged$end - merged$start)
  list(ranges = merged, covered = covered)
}
"""
LEXICAL["perl"] = """
sub merge_ranges {
    my ($ranges, $slack) = @_;
    my @ordered = sort { $a->[0] <=> $b->[0] } @$ranges;
    my @merged;
    foreach my $range (@ordered) {
        my $last = $merged[-1];
        if (defined $last && $range->[0] <= $last->[1] + $slack) {
            $last->[1] = $range->[1] if $range->[1] > $last->[1];
        }
        else {
            push @merged, [ @$range ];
        }
    }
    my $covered = 0;
    $covered += $_->[1] - $_->[0] for @merged;
    return (\\@merged, $covered);
}
"""
LEXICAL_LOCALS: dict[str, tuple[str, ...]] = {
    "lua": (
        "merge_ranges",
        "ranges",
        "slack",
        "left",
        "right",
        "merged",
        "index",
        "range",
        "last",
        "covered",
        "span",
    ),
    "swift": (
        "mergeRanges",
        "ranges",
        "ordered",
        "left",
        "right",
        "merged",
        "range",
        "covered",
        "span",
    ),
    "scala": (
        "mergeRanges",
        "ranges",
        "ordered",
        "range",
        "merged",
        "last",
        "rest",
        "result",
        "covered",
        "span",
    ),
    "r": ("merge_ranges", "ordered", "merged", "index", "current", "last", "covered"),
    "perl": ("merge_ranges", "ranges", "slack", "ordered", "merged", "range", "last", "covered"),
}

LOCALS: dict[str, tuple[str, ...]] = {
    "python": (
        "merge_intervals",
        "spans",
        "tolerance",
        "ordered",
        "pair",
        "merged",
        "start",
        "end",
        "previous",
        "total",
        "report",
    ),
    "javascript": (
        "mergeIntervals",
        "spans",
        "tolerance",
        "ordered",
        "a",
        "b",
        "merged",
        "start",
        "end",
        "last",
        "total",
        "report",
    ),
    "typescript": (
        "mergeIntervals",
        "spans",
        "tolerance",
        "ordered",
        "a",
        "b",
        "merged",
        "start",
        "end",
        "last",
        "total",
        "report",
    ),
    "java": (
        "mergeIntervals",
        "spans",
        "tolerance",
        "ordered",
        "a",
        "b",
        "merged",
        "span",
        "last",
        "total",
    ),
    "c": ("merge_intervals", "spans", "count", "tolerance", "covered", "out", "total", "i", "j"),
    "cpp": ("mergeIntervals", "spans", "tolerance", "covered", "a", "b", "merged", "span", "total"),
    "go": (
        "MergeIntervals",
        "spans",
        "tolerance",
        "ordered",
        "i",
        "j",
        "merged",
        "span",
        "last",
        "total",
    ),
    "rust": (
        "merge_intervals",
        "spans",
        "tolerance",
        "ordered",
        "a",
        "b",
        "merged",
        "span",
        "last",
        "total",
    ),
}
LOCALS["tsx"] = LOCALS["typescript"]

LOCALS["csharp"] = (
    "MergeIntervals",
    "spans",
    "tolerance",
    "ordered",
    "span",
    "merged",
    "last",
    "total",
    "item",
)
LOCALS["ruby"] = (
    "merge_intervals",
    "spans",
    "tolerance",
    "ordered",
    "pair",
    "merged",
    "start",
    "finish",
    "previous",
    "lo",
    "hi",
    "total",
    "report",
)
LOCALS["php"] = (
    "merge_intervals",
    "spans",
    "tolerance",
    "a",
    "b",
    "merged",
    "span",
    "size",
    "total",
    "item",
)
LOCALS["kotlin"] = (
    "mergeIntervals",
    "spans",
    "tolerance",
    "ordered",
    "merged",
    "span",
    "previous",
    "total",
    "item",
)
LOCALS["bash"] = ("archive_logs", "source_dir", "target", "count", "file", "base", "total")

UNRELATED: dict[str, str] = {
    "python": """
def render_invoice(customer, lines, tax_rate):
    header = f"Invoice for {customer.name}"
    rows = []
    subtotal = 0
    for item in lines:
        cost = item.quantity * item.unit_price
        subtotal += cost
        rows.append(f"{item.sku:<12}{item.quantity:>4} x {item.unit_price:>8.2f}")
    tax = round(subtotal * tax_rate, 2)
    footer = f"Subtotal {subtotal:.2f}  Tax {tax:.2f}  Total {subtotal + tax:.2f}"
    return "\\n".join([header, *rows, footer])
""",
    "javascript": """
async function fetchAllPages(client, url) {
  const results = [];
  let next = url;
  while (next) {
    const response = await client.get(next, { headers: { Accept: "application/json" } });
    results.push(...response.data.items);
    next = response.data.links && response.data.links.next;
  }
  return results.filter((item) => !item.archived).map((item) => item.id);
}
""",
    "typescript": """
export class RateLimiter {
  private readonly stamps: number[] = [];
  constructor(private readonly limit: number, private readonly windowMs: number) {}
  allow(now: number = Date.now()): boolean {
    while (this.stamps.length && now - this.stamps[0] > this.windowMs) {
      this.stamps.shift();
    }
    if (this.stamps.length >= this.limit) return false;
    this.stamps.push(now);
    return true;
  }
}
""",
    "java": """
public final class Temperature {
    private final double kelvin;
    public Temperature(double kelvin) {
        if (kelvin < 0) throw new IllegalArgumentException("below absolute zero");
        this.kelvin = kelvin;
    }
    public double celsius() { return kelvin - 273.15; }
    public double fahrenheit() { return celsius() * 9.0 / 5.0 + 32.0; }
    @Override public String toString() { return String.format("%.1f K", kelvin); }
}
""",
    "c": """
int parse_config_line(const char *line, char *key, size_t key_size, int *value) {
    const char *eq = strchr(line, '=');
    if (eq == NULL || (size_t)(eq - line) >= key_size) {
        return -1;
    }
    memcpy(key, line, (size_t)(eq - line));
    key[eq - line] = '\\0';
    *value = atoi(eq + 1);
    return 0;
}
""",
    "cpp": """
class Matrix {
public:
    Matrix(std::size_t rows, std::size_t cols) : rows_(rows), cols_(cols), data_(rows * cols) {}
    double &at(std::size_t r, std::size_t c) { return data_[r * cols_ + c]; }
    Matrix transpose() const {
        Matrix out(cols_, rows_);
        for (std::size_t r = 0; r < rows_; ++r)
            for (std::size_t c = 0; c < cols_; ++c) out.data_[c * rows_ + r] = data_[r * cols_ + c];
        return out;
    }
private:
    std::size_t rows_, cols_;
    std::vector<double> data_;
};
""",
    "go": """
package server

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	status := map[string]string{"status": "ok", "version": s.version}
	if err := s.db.PingContext(r.Context()); err != nil {
		status["status"] = "degraded"
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(status)
}
""",
    "rust": """
impl Inventory {
    pub fn restock(&mut self, sku: &str, amount: u32) -> Result<u32, StockError> {
        let entry = self.items.get_mut(sku).ok_or(StockError::Unknown(sku.to_string()))?;
        entry.quantity = entry.quantity.checked_add(amount).ok_or(StockError::Overflow)?;
        self.log.push(format!("restocked {} by {}", sku, amount));
        Ok(entry.quantity)
    }
}
""",
}
UNRELATED["tsx"] = UNRELATED["typescript"]

UNRELATED["csharp"] = """
public sealed class Temperature
{
    private readonly double kelvin;
    public Temperature(double kelvin) =>
        this.kelvin = kelvin >= 0 ? kelvin : throw new ArgumentException("below zero");
    public double Celsius => kelvin - 273.15;
    public override string ToString() => string.Format("{0:F1} K", kelvin);
}
"""
UNRELATED["ruby"] = """
class Invoice
  attr_reader :lines

  def initialize(customer)
    @customer = customer
    @lines = []
  end

  def add(sku, quantity, price)
    @lines << { sku: sku, quantity: quantity, price: price }
    self
  end

  def total
    @lines.sum { |line| line[:quantity] * line[:price] }.round(2)
  end
end
"""
UNRELATED["php"] = """<?php
class RateLimiter
{
    private array $stamps = [];

    public function __construct(private int $limit, private int $windowSeconds) {}

    public function allow(int $now): bool
    {
        $this->stamps = array_filter($this->stamps, fn ($t) => $now - $t < $this->windowSeconds);
        if (count($this->stamps) >= $this->limit) {
            return false;
        }
        $this->stamps[] = $now;
        return true;
    }
}
"""
UNRELATED["kotlin"] = """
data class Celsius(val degrees: Double) {
    fun toFahrenheit(): Double = degrees * 9.0 / 5.0 + 32.0
    operator fun plus(other: Celsius) = Celsius(degrees + other.degrees)
    override fun toString() = "%.1f C".format(degrees)
}
"""
UNRELATED["bash"] = """
#!/usr/bin/env bash
set -euo pipefail
usage() { echo "usage: $0 HOST PORT" >&2; exit 2; }
[ $# -eq 2 ] || usage
if nc -z "$1" "$2"; then
    echo "port $2 on $1 is open"
else
    echo "port $2 on $1 is closed"
fi
"""

EXTENSIONS = {
    "csharp": ".cs",
    "ruby": ".rb",
    "php": ".php",
    "kotlin": ".kt",
    "bash": ".sh",
    "python": ".py",
    "javascript": ".js",
    "typescript": ".ts",
    "tsx": ".tsx",
    "java": ".java",
    "c": ".c",
    "cpp": ".cpp",
    "go": ".go",
    "rust": ".rs",
}


def rename(
    code: str, names: tuple[str, ...], prefix: str = "zz", new_names: list[str] | None = None
) -> str:
    """Rename `names` consistently (whole words only), to `new_names` if given."""
    if new_names is not None:
        mapping = dict(zip(names, new_names, strict=False))
    else:
        mapping = {n: f"{prefix}{i}{n[::-1].capitalize()}" for i, n in enumerate(names)}
    pattern = re.compile(
        r"\b(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")\b"
    )
    return pattern.sub(lambda m: mapping[m.group()], code)


BRACE_ON_OWN_LINE = {"javascript", "typescript", "tsx", "java", "c", "cpp", "rust", "csharp", "php"}


def reformat(code: str, language: str) -> str:
    """New layout, same tokens: other indentation, other spacing, braces moved."""
    out = []
    for line in code.splitlines():
        stripped = line.lstrip(" \t")
        depth = (len(line) - len(stripped)) // (1 if line.startswith("\t") else 2)
        text = re.sub(r", *", ",  ", stripped) if language != "python" else stripped
        if language in BRACE_ON_OWN_LINE and text.endswith("{") and len(text) > 1:
            out.append(" " * depth * 3 + text[:-1].rstrip())
            out.append(" " * depth * 3 + "{")
            continue
        out.append((" " * depth * 3 if language != "python" else "  " * (depth // 2)) + text)
    return "\n\n".join(out) if language not in ("python",) else "\n".join(out)


def disguise(language: str) -> str:
    """The protected sample of `language`, renamed and reformatted."""
    return reformat(rename(PROTECTED[language], LOCALS[language]), language)


#: Names and expression shapes of `random_python_module`.
NAMES = ["count", "rows", "mark", "width", "cell", "stack", "depth", "piece"]
SHAPES = ["{a} + {b}", "{a} * {b} - {n}", "{f}({a})", "{m}.{f}({b})", "[{a}, {b}]", "{a} % {n}"]


def _random_expression(rng: random.Random, depth: int = 0) -> str:
    if depth >= 2 or rng.random() < 0.3:
        return rng.choice(NAMES) if rng.random() < 0.7 else str(rng.randint(0, 99))
    return rng.choice(SHAPES).format(
        a=_random_expression(rng, depth + 1),
        b=_random_expression(rng, depth + 1),
        f=rng.choice(NAMES),
        m=rng.choice(NAMES),
        n=rng.randint(1, 99),
    )


def _random_function(rng: random.Random, name: str) -> str:
    lines = [f"def {name}({', '.join(NAMES[:3])}):"]
    for _ in range(rng.randint(6, 12)):
        target = rng.choice(NAMES)
        shape = rng.randrange(4)
        if shape == 0:
            lines.append(f"    {target} = {_random_expression(rng)}")
        elif shape == 1:
            lines.append(f"    if {target} > {_random_expression(rng)}:")
            lines.append(f"        {target} = {_random_expression(rng)}")
        elif shape == 2:
            lines.append(f"    for {target} in {_random_expression(rng)}:")
            lines.append(f"        {rng.choice(NAMES)} += {rng.randint(1, 9)}")
        else:
            lines.append(f"    {_random_expression(rng)}")
    lines.append(f"    return {rng.choice(NAMES)}")
    return "\n".join(lines) + "\n"


def random_python_module(seed: int, functions: int) -> tuple[str, list[str]]:
    """A module of random functions (about 105 tokens each), and the functions.

    Functions of random statements and expressions are unlike each other once
    normalized, so a copy of one matches where it lies in the module.
    """
    rng = random.Random(seed)
    made = [_random_function(rng, f"step_{i}") for i in range(functions)]
    return "\n\n".join(made), made
