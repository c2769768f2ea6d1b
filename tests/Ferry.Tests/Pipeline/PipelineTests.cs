using System.Text.Json;
using Ferry.Manifest;
using Ferry.Pipeline;
using Ferry.Tests.Support;
using static Ferry.Tests.Pipeline.PipelineKit;

namespace Ferry.Tests.Pipeline;

/// <summary>The file-fed pipeline on a real SQLite target, driven through the real CLI and real CSV files.</summary>
public class PipelineTests
{
    [Fact]
    public async Task Files_given_out_of_order_are_registered_and_loaded_by_the_date_in_their_name()
    {
        using var ws = new Workspace();
        Setup(ws);
        // Written newest first (so their modification times run backwards), each month moving citizen 1.
        Land(ws, "register_2026-03.csv", Register("1,Ada,Third Street,1990-01-01", "2,Brian,Elm Row,1985-05-05", "3,Chloe,Oak Lane,2000-02-29"));
        Land(ws, "register_20260201.csv", Register("1,Ada,Second Street,1990-01-01", "2,Brian,Elm Row,1985-05-05"));
        Land(ws, "register_2026-01.csv", Register("1,Ada,First Street,1990-01-01"));

        var run = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(["1 register_2026-01.csv loaded", "2 register_20260201.csv loaded", "3 register_2026-03.csv loaded"], await RegistryAsync(ws));
        var files = await FilesAsync(ws);
        Assert.Equal(["2026-01-01", "2026-02-01", "2026-03-01"], files.Select(f => f.GetProperty("file_date").GetString()));
        var runs = files.Select(f => f.GetProperty("run_id").GetInt64()).ToList();
        Assert.Equal(runs.Order(), runs);
        Assert.Equal(3, runs.Distinct().Count());
        // The latest month wins, and the mart shows it.
        Assert.Equal(["1|Ada|Third Street", "2|Brian|Elm Row", "3|Chloe|Oak Lane"], Citizens(ws));
        Assert.Equal(Citizens(ws), Citizens(ws, "dim_citizen"));
        Assert.True(File.Exists(ws.PathOf("stage/register/000001.parquet")));
    }

    [Fact]
    public async Task A_copy_or_a_renamed_file_is_skipped_naming_the_file_it_repeats()
    {
        using var ws = new Workspace();
        Setup(ws);
        var march = Register("1,Ada,Third Street,1990-01-01");
        Land(ws, "register_2026-03.csv", march);
        Assert.Equal(0, (await ws.Ferry("pipeline", "run", "citizen.yaml")).ExitCode);
        Land(ws, "register_2026-03 (copy).csv", march);
        Land(ws, "register_2026-04.csv", march); // renamed: same content under another month

        var again = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("register_2026-03 (copy).csv is the same as register_2026-03.csv (version 1): skipped", again.Output);
        Assert.Contains("register_2026-04.csv is the same as register_2026-03.csv (version 1): skipped", again.Output);
        Assert.Equal(["1 register_2026-03.csv loaded"], await RegistryAsync(ws));
        Assert.Equal(1L, ws.Scalar(Db, "SELECT count(*) FROM ferry_runs"));
        var skips = (await AuditAsync(ws)).Where(e => e.GetProperty("step").GetString() == "ingest" && e.GetProperty("outcome").GetString() == "skipped").ToList();
        Assert.Equal(2, skips.Count);
    }

    [Fact]
    public async Task A_fatal_breach_loads_nothing_rejects_the_file_and_a_corrected_file_loads()
    {
        using var ws = new Workspace();
        Setup(ws);
        var bad = Register("1,Ada,First Street,1990-01-01", ",Nobody,No Street,1990-01-01", "3,Chloe,Oak Lane,not-a-date", ",Ghost,Nowhere,1990-01-01");
        Land(ws, "register_2026-01.csv", bad);

        var run = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("register_2026-01.csv: rejected: 2 fatal problem(s), the first at line 3: column citizen_id: required (fatal)", run.Output);
        Assert.Equal(["1 register_2026-01.csv rejected"], await RegistryAsync(ws));
        AssertNothingLoaded(ws);
        var report = (await FilesAsync(ws))[0].GetProperty("report");
        Assert.Equal(2, report.GetProperty("fatal").GetInt64());
        var problems = report.GetProperty("problems").EnumerateArray().ToList();
        Assert.Equal((3L, "citizen_id", "required", "fatal"), (problems[0].GetProperty("line").GetInt64(), problems[0].GetProperty("column").GetString(), problems[0].GetProperty("rule").GetString(), problems[0].GetProperty("severity").GetString()));
        Assert.Equal(5L, problems[1].GetProperty("line").GetInt64());
        // The row error is listed too (it would be rejected row by row), and every rule is counted.
        Assert.Contains(problems, p => p.GetProperty("line").GetInt64() == 4 && p.GetProperty("rule").GetString() == "type");
        Assert.Equal(2, report.GetProperty("counts_by_rule").GetProperty("required").GetInt64());

        // The same file dropped again is not validated again.
        var unchanged = await ws.Ferry("pipeline", "run", "citizen.yaml");
        Assert.Contains("register_2026-01.csv is unchanged since it was rejected as version 1 (register_2026-01.csv): skipped", unchanged.Output);
        Assert.Equal(["1 register_2026-01.csv rejected"], await RegistryAsync(ws));

        // Corrected, it is a new version and loads; its row error is rejected row by row (partial).
        Land(ws, "register_2026-01.csv", Register("1,Ada,First Street,1990-01-01", "2,Nobody,No Street,1990-01-01", "3,Chloe,Oak Lane,not-a-date"));
        var fixedRun = await ws.Ferry("pipeline", "run", "citizen.yaml");
        Assert.True(fixedRun.ExitCode == 3, fixedRun.ToString());
        Assert.Equal(["1 register_2026-01.csv rejected", "2 register_2026-01.csv loaded"], await RegistryAsync(ws));
        Assert.Equal(["1|Ada|First Street", "2|Nobody|No Street"], Citizens(ws));
        Assert.Equal(1L, ws.Scalar(Db, "SELECT count(*) FROM ferry_stage_citizen WHERE status = 'error' AND line = 4"));
    }

    [Fact]
    public async Task A_file_that_breaks_after_thousands_of_rows_is_rejected_naming_the_line_and_nothing_loads()
    {
        using var ws = new Workspace();
        Setup(ws);
        // Row 4,321 opens a quote that is never closed: the file reads well for thousands of rows, then breaks.
        var rows = Enumerable.Range(1, 5000).Select(i => i == 4321 ? $"{i},\"Person {i},High Street,1990-01-01" : $"{i},Person {i},High Street,1990-01-01");
        Land(ws, "register_2026-01.csv", Register([.. rows]) + new string('x', 17 << 20));

        var run = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("register_2026-01.csv: rejected: register_2026-01.csv:4322: malformed CSV: the record starting on this line runs past 16 MB", run.Output);
        Assert.Equal(["1 register_2026-01.csv rejected"], await RegistryAsync(ws));
        AssertNothingLoaded(ws);
        var report = (await FilesAsync(ws))[0].GetProperty("report");
        Assert.Equal(4320, report.GetProperty("rows").GetInt64()); // every row before the break was read and checked
    }

    [Fact]
    public async Task A_file_overwritten_after_it_was_registered_is_not_loaded_as_that_version_and_its_new_content_loads_as_its_own()
    {
        using var ws = new Workspace();
        Setup(ws);
        Land(ws, "register_2026-01.csv", Register("1,Ada,First Street,1990-01-01"));
        var ingest = await ws.Ferry("ingest", "citizen.yaml");
        Assert.True(ingest.ExitCode == 0, ingest.ToString());
        // Someone saves over the landed file before the pipeline validates it.
        Land(ws, "register_2026-01.csv", Register("1,Ada,Second Street,1990-01-01", "2,Brian,Elm Row,1985-05-05"));

        var run = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("register_2026-01.csv changed after it was registered as version 1", run.Output);
        Assert.Equal(["1 register_2026-01.csv rejected", "2 register_2026-01.csv registered"], await RegistryAsync(ws));
        AssertNothingLoaded(ws);

        var again = await ws.Ferry("pipeline", "run", "citizen.yaml");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(["1 register_2026-01.csv rejected", "2 register_2026-01.csv loaded"], await RegistryAsync(ws));
        Assert.Equal(["1|Ada|Second Street", "2|Brian|Elm Row"], Citizens(ws));
    }

    [Fact]
    public async Task A_second_pipeline_process_is_refused_at_once_naming_the_one_at_work_and_goes_ahead_once_it_ends()
    {
        using var ws = new Workspace();
        Setup(ws);
        Land(ws, "register_2026-01.csv", Register("1,Ada,First Street,1990-01-01"));
        var manifest = ManifestLoader.Load(ws.PathOf("citizen.yaml"));

        using (PipelineLock.Acquire(manifest, "the pipeline run"))
        {
            foreach (var command in new[] { new[] { "pipeline", "run", "citizen.yaml" }, ["ingest", "citizen.yaml"], ["publish", "citizen.yaml"] })
            {
                var refused = await ws.Ferry(command);
                Assert.True(refused.ExitCode == 1, refused.ToString());
                Assert.Contains($"another ferry process is working on the pipeline of citizen.yaml (process {Environment.ProcessId} since ", refused.Error);
                Assert.Contains(", the pipeline run)", refused.Error);
            }
            Assert.Empty(await RegistryAsync(ws)); // reading the registry needs no lock
        }

        var run = await ws.Ferry("pipeline", "run", "citizen.yaml");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(["1 register_2026-01.csv loaded"], await RegistryAsync(ws));
        // The lock went with the run: the next one takes it again.
        Assert.Equal(0, (await ws.Ferry("pipeline", "run", "citizen.yaml")).ExitCode);
    }

    [Fact]
    public async Task A_file_missing_a_required_column_is_rejected_naming_it()
    {
        using var ws = new Workspace();
        Setup(ws);
        Land(ws, "register_2026-01.csv", "citizen_id,name,born\n1,Ada,1990-01-01\n");

        var run = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("register_2026-01.csv: rejected: missing column(s) street", run.Output);
        var file = (await FilesAsync(ws))[0];
        Assert.Equal("rejected", file.GetProperty("status").GetString());
        Assert.Equal(["street"], file.GetProperty("report").GetProperty("missing_columns").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(0L, ws.Scalar(Db, "SELECT count(*) FROM ferry_runs"));
    }

    [Fact]
    public async Task The_history_step_reads_the_stage_file_not_the_landed_one()
    {
        using var ws = new Workspace();
        Setup(ws);
        Land(ws, "register_2026-01.csv", Register("1,Ada,First Street,1990-01-01", "2,Brian,,", "3,Chloë,Øster Allé 5,2000-02-29"));
        var manifest = ManifestLoader.Load(ws.PathOf("citizen.yaml"));
        var pipeline = new FilePipeline(manifest);
        var ingest = await pipeline.IngestAsync(CancellationToken.None);
        var version = Assert.Single(ingest.Registered).Id;
        var report = await pipeline.ValidateAsync(version, CancellationToken.None);
        Assert.False(report.Rejected);

        File.Delete(ws.PathOf("landing/register_2026-01.csv"));
        var run = await pipeline.LoadHistoryAsync(version, CancellationToken.None);

        Assert.Equal(Ferry.Engine.RunStatus.Succeeded, run.Status);
        Assert.Equal(["1|Ada|First Street", "2|Brian|", "3|Chloë|Øster Allé 5"], Citizens(ws));
        Assert.Equal([null, "2000-02-29"], ws.Query(Db, "SELECT born FROM citizen WHERE citizen_id IN (2, 3) ORDER BY citizen_id").Select(r => r["born"]));
        Assert.Equal(["1 register_2026-01.csv loaded"], await RegistryAsync(ws));
        Assert.Contains("000001.parquet", (string)ws.Scalar(Db, "SELECT source FROM ferry_runs")!);
    }

    [Fact]
    public async Task The_pipeline_stops_at_the_first_failing_file_and_continues_after_the_fix()
    {
        using var ws = new Workspace();
        Setup(ws);
        Land(ws, "register_2026-01.csv", Register("1,Ada,First Street,1990-01-01"));
        Land(ws, "register_2026-02.csv", Register(",Ada,Second Street,1990-01-01"));
        Land(ws, "register_2026-03.csv", Register("1,Ada,Third Street,1990-01-01"));

        var run = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("stopped at version 2 (register_2026-02.csv)", run.Error);
        Assert.Equal(["1 register_2026-01.csv loaded", "2 register_2026-02.csv rejected", "3 register_2026-03.csv registered"], await RegistryAsync(ws));
        Assert.Equal(["1|Ada|First Street"], Citizens(ws));
        Assert.Equal(["1|Ada|First Street"], Citizens(ws, "dim_citizen")); // what was loaded is published

        Land(ws, "register_2026-02.csv", Register("1,Ada,Second Street,1990-01-01"));
        var rerun = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.Equal(["1 register_2026-01.csv loaded", "2 register_2026-02.csv rejected", "3 register_2026-03.csv loaded", "4 register_2026-02.csv loaded"], await RegistryAsync(ws));
        // The corrected February loads before March, so March's street is the last word.
        var files = await FilesAsync(ws);
        Assert.True(files[3].GetProperty("run_id").GetInt64() < files[2].GetProperty("run_id").GetInt64());
        Assert.Equal(["1|Ada|Third Street"], Citizens(ws, "dim_citizen"));
    }

    [Fact]
    public async Task A_failing_publish_file_leaves_the_previous_mart_intact_and_names_the_file()
    {
        using var ws = new Workspace();
        Setup(ws);
        ws.Write("citizen.yaml", PipelineKit.Manifest(publish: "[mart/01_dim_citizen.sql, mart/02_fact.sql]"));
        ws.Write("mart/02_fact.sql", "DROP TABLE IF EXISTS fact_count;\nCREATE TABLE fact_count AS SELECT count(*) AS n FROM citizen;\n");
        Land(ws, "register_2026-01.csv", Register("1,Ada,First Street,1990-01-01"));
        Assert.Equal(0, (await ws.Ferry("pipeline", "run", "citizen.yaml")).ExitCode);
        Assert.Equal(1L, ws.Scalar(Db, "SELECT n FROM fact_count"));

        ws.Write("mart/02_fact.sql", "DROP TABLE fact_count;\nCREATE TABLE fact_count AS SELECT count(*) AS n FROM no_such_table;\n");
        Land(ws, "register_2026-02.csv", Register("1,Ada,Second Street,1990-01-01", "2,Brian,Elm Row,1985-05-05"));
        var run = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("mart/02_fact.sql", run.Error);
        Assert.Contains("no_such_table", run.Error);
        // History moved on; the mart, 01's rebuild included, is the one published before.
        Assert.Equal(["1|Ada|Second Street", "2|Brian|Elm Row"], Citizens(ws));
        Assert.Equal(["1|Ada|First Street"], Citizens(ws, "dim_citizen"));
        Assert.Equal(1L, ws.Scalar(Db, "SELECT n FROM fact_count"));
        var publish = (await AuditAsync(ws)).Last(e => e.GetProperty("step").GetString() == "publish");
        Assert.Equal("failed", publish.GetProperty("outcome").GetString());
        Assert.Contains("mart/02_fact.sql", publish.GetProperty("error").GetString());

        ws.Write("mart/02_fact.sql", "DROP TABLE fact_count;\nCREATE TABLE fact_count AS SELECT count(*) AS n FROM citizen;\n");
        var publishAgain = await ws.Ferry("publish", "citizen.yaml");
        Assert.True(publishAgain.ExitCode == 0, publishAgain.ToString());
        Assert.Equal(["1|Ada|Second Street", "2|Brian|Elm Row"], Citizens(ws, "dim_citizen"));
        Assert.Equal(2L, ws.Scalar(Db, "SELECT n FROM fact_count"));
    }

    [Fact]
    public async Task Every_step_writes_an_audit_event_with_its_counts()
    {
        using var ws = new Workspace();
        Setup(ws);
        Land(ws, "register_2026-01.csv", Register("1,Ada,First Street,1990-01-01", "2,Brian,Elm Row,bad-date"));

        var run = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(run.ExitCode == 3, run.ToString());
        var events = await AuditAsync(ws);
        Assert.Equal(["ingest", "ingest", "validate", "history", "publish"], events.Select(e => e.GetProperty("step").GetString()));
        JsonElement Step(string step) => events.Last(e => e.GetProperty("step").GetString() == step);
        Assert.Equal(1, Step("ingest").GetProperty("counts").GetProperty("registered").GetInt64());
        var validate = Step("validate");
        Assert.Equal(("validated", 1L), (validate.GetProperty("outcome").GetString(), validate.GetProperty("version").GetInt64()));
        Assert.Equal(2, validate.GetProperty("counts").GetProperty("rows").GetInt64());
        Assert.Equal(1, validate.GetProperty("counts").GetProperty("rows_with_errors").GetInt64());
        var history = Step("history");
        Assert.Equal("partial", history.GetProperty("outcome").GetString());
        Assert.Equal((string?)ws.Scalar(Db, "SELECT run_id FROM ferry_runs")?.ToString(), history.GetProperty("run_id").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal((2L, 1L, 1L), (history.GetProperty("counts").GetProperty("rows_read").GetInt64(), history.GetProperty("counts").GetProperty("inserted").GetInt64(), history.GetProperty("counts").GetProperty("rejected").GetInt64()));
        Assert.Equal("succeeded", Step("publish").GetProperty("outcome").GetString());
        Assert.All(events, e => Assert.True(e.GetProperty("duration_ms").GetInt64() >= 0));
    }

    [Fact]
    public async Task A_file_without_a_date_in_its_name_stops_the_pipeline_before_any_file_loads()
    {
        using var ws = new Workspace();
        Setup(ws);
        Land(ws, "register_2026-01.csv", Register("1,Ada,First Street,1990-01-01"));
        Land(ws, "register_latest.csv", Register("1,Ada,Other Street,1990-01-01"));

        var run = await ws.Ferry("pipeline", "run", "citizen.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("register_latest.csv: no date in its name", run.Output);
        Assert.Equal(["1 register_2026-01.csv registered"], await RegistryAsync(ws));
        Assert.Equal(0L, ws.Scalar(Db, "SELECT count(*) FROM ferry_runs"));
    }

    [Theory]
    [InlineData("register_2026-03-15.xlsx", "2026-03-15")]
    [InlineData("register_20260315.csv", "2026-03-15")]
    [InlineData("register_2026-03.csv", "2026-03-01")]
    [InlineData("register_202603 (copy).csv", "2026-03-01")]
    [InlineData("v2_export_2026-13_2026-02.csv", "2026-02-01")]
    [InlineData("register_123456789.csv", null)]
    [InlineData("register.csv", null)]
    public void The_date_in_a_file_name(string name, string? expected) =>
        Assert.Equal(expected, FileDates.FromName(name)?.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
}
