using Ferry.Tests.Sources;

namespace Ferry.Tests.EndToEnd;

/// <summary>
/// <c>ferry run</c> from a legacy database into the SQLite target, through the real CLI: a table
/// and a query per entity, value rules, rejected rows, re-runs, and resuming from a key cursor.
/// </summary>
public class DatabaseSourceRunTests
{
    private const string Schools = """
        - name: school
          from: { table: schools, key: id, convert: { opened: date } }
          key: [id]
          batch_size: 2
          rules:
            - { column: name, required: true }
          columns:
            id: { from: id, type: int }
            name: name
            opened: { from: opened, type: date }
        - name: pupil
          from:
            query: >-
              SELECT p.school_id, p.pupil_no, p.name, p.born, p.active, s.name AS school
              FROM pupils p JOIN schools s ON s.id = p.school_id
            key: [school_id, pupil_no]
            convert: { born: date, active: bool, name: decode }
          key: [school_id, pupil_no]
          batch_size: 3
          columns:
            school_id: { from: school_id, type: int }
            pupil_no: { from: pupil_no, type: int }
            name: name
            born: { from: born, type: date }
            active: { from: active, type: bool }
            school: school
        """;

    private static List<string> Rows(LegacyDatabase db, string sql) =>
        db.Workspace.Query("target.db", sql).Select(r => string.Join("|", r.Values)).ToList();

    [Fact]
    public async Task A_sqlite_legacy_database_migrates_into_the_sqlite_target_and_reruns_unchanged()
    {
        using var db = new LegacyDatabase(LegacyDatabase.Sqlite);
        db.Execute("""
            CREATE TABLE schools (id INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, opened TEXT);
            CREATE TABLE pupils (school_id INTEGER NOT NULL, pupil_no INTEGER NOT NULL, name BLOB, born TEXT, active INTEGER, PRIMARY KEY (school_id, pupil_no));
            INSERT INTO schools VALUES (1, 'North', '1990-09-01 00:00:00'), (2, 'South', NULL), (3, '', '1999-01-01');
            INSERT INTO pupils VALUES (1, 1, CAST('Ann' AS BLOB), '2010-05-01', 1), (1, 2, x'4a6f73e9', '2011-06-02 00:00:00', 0), (2, 1, CAST('Cy' AS BLOB), NULL, 1),
                (1, 10, CAST('Dee' AS BLOB), 'unknown', 1), (2, 2, CAST('Eve' AS BLOB), '2012-01-01', 2), (3, 1, CAST('Fay' AS BLOB), '2013-02-03', 0),
                (2, 3, CAST('Gus' AS BLOB), '2014-03-04', 1)
            """);
        db.Manifest(Schools, "encoding: windows-1252");

        var check = await db.Workspace.Ferry("check", "ferry.yaml");
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Contains("ok: ferry.yaml is ready to run", check.Output, StringComparison.Ordinal);

        var first = await db.Workspace.Ferry("run", "ferry.yaml");
        Assert.True(first.ExitCode == 3, first.ToString());
        Assert.Equal(["1|North|1990-09-01", "2|South|"], Rows(db, "SELECT id, name, opened FROM school ORDER BY id"));
        Assert.Equal(
            ["1|1|Ann|2010-05-01|1|North", "1|2|José|2011-06-02|0|North", "2|1|Cy||1|South", "2|3|Gus|2014-03-04|1|South", "3|1|Fay|2013-02-03|0|"],
            Rows(db, "SELECT school_id, pupil_no, name, born, active, school FROM pupil ORDER BY school_id, pupil_no"));
        // Rejected rows name the source and the row's place in key order.
        Assert.Contains("sqlite table schools:3: column name: required (error)", first.Output, StringComparison.Ordinal);
        Assert.Contains("sqlite query of entity pupil:3: column born: date (error): 'unknown' is not a date (yyyy-MM-dd)", first.Output, StringComparison.Ordinal);
        Assert.Contains("sqlite query of entity pupil:5: column active: bool (error)", first.Output, StringComparison.Ordinal);
        Assert.Equal(["1|sqlite database|partial"], Rows(db, "SELECT run_id, source, status FROM ferry_runs"));
        Assert.Equal(["school|3|2|1", "pupil|7|5|2"], Rows(db, "SELECT entity, rows_read, inserted, rejected FROM ferry_run_entities WHERE run_id = 1 ORDER BY rowid"));
        Assert.Equal(["1|1|3", "2|4|6", "3|7|7"], Rows(db, "SELECT batch_no, first_line, last_line FROM ferry_batches WHERE entity = 'pupil' ORDER BY batch_no"));
        Assert.Equal("{\"school_id\":\"1\",\"pupil_no\":\"10\",\"name\":\"Dee\",\"born\":\"unknown\",\"active\":\"true\",\"school\":\"North\"}",
            db.Workspace.Scalar("target.db", "SELECT raw FROM ferry_stage_pupil WHERE line = 3"));

        var second = await db.Workspace.Ferry("run", "ferry.yaml");
        Assert.True(second.ExitCode == 3, second.ToString());
        Assert.Equal(["school|3|0|2|1", "pupil|7|0|5|2"],
            Rows(db, "SELECT entity, rows_read, inserted, unchanged, rejected FROM ferry_run_entities WHERE run_id = 2 ORDER BY rowid"));
    }

    [Fact]
    public async Task A_mariadb_legacy_database_migrates_into_the_sqlite_target()
    {
        using var db = new LegacyDatabase(LegacyDatabase.MySql);
        db.Execute("""
            CREATE TABLE schools (id INT NOT NULL PRIMARY KEY, name VARCHAR(40) CHARACTER SET latin1 NOT NULL, opened DATETIME);
            CREATE TABLE pupils (school_id INT NOT NULL, pupil_no INT NOT NULL, name VARCHAR(40) CHARACTER SET latin1, born DATE, active TINYINT(1),
                PRIMARY KEY (school_id, pupil_no));
            INSERT INTO schools VALUES (1, 'Nörth', '1990-09-01 08:30:00'), (2, 'South', '0000-00-00 00:00:00'), (3, '', NULL);
            INSERT INTO pupils VALUES (1, 1, 'Ann', '2010-05-01', 1), (1, 2, CONVERT(x'4a6f73c3a9' USING latin1), '0000-00-00', 0),
                (2, 1, 'Cy', NULL, 1), (1, 10, 'Dee', '2011-00-00', 1), (2, 2, 'Eve', '2012-01-01', 2), (3, 1, 'Fay', '2013-02-03', 0),
                (2, 3, 'Gus', '2014-03-04', 1)
            """);
        // The pupils' names were written as UTF-8 into latin1 columns: 'decode' reads their bytes as UTF-8.
        db.Manifest(Schools, "encoding: utf-8");

        var run = await db.Workspace.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Equal(["1|Nörth|1990-09-01", "2|South|"], Rows(db, "SELECT id, name, opened FROM school ORDER BY id"));
        Assert.Equal(
            ["1|1|Ann|2010-05-01|1|Nörth", "1|2|José||0|Nörth", "1|10|Dee||1|Nörth", "2|1|Cy||1|South", "2|3|Gus|2014-03-04|1|South", "3|1|Fay|2013-02-03|0|"],
            Rows(db, "SELECT school_id, pupil_no, name, born, active, school FROM pupil ORDER BY school_id, pupil_no"));
        Assert.Contains("mysql query of entity pupil:5: column active: bool (error): '2' is not a boolean", run.Output, StringComparison.Ordinal);
        Assert.Equal(["school|3|2|1", "pupil|7|6|1"], Rows(db, "SELECT entity, rows_read, inserted, rejected FROM ferry_run_entities ORDER BY rowid"));
    }

    /// <summary>
    /// A legacy table without a unique index, where a run fails at a fatal row in its third batch.
    /// Before the resume, the failing row is fixed and a committed row is given the key of the row
    /// before it: a resume that read from the first row again would stop at that repeated key.
    /// </summary>
    private static async Task<LegacyDatabase> FailedRunAsync(string rules)
    {
        var db = new LegacyDatabase(LegacyDatabase.Sqlite);
        db.Execute("""
            CREATE TABLE people (id INTEGER NOT NULL, name TEXT);
            INSERT INTO people VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e'), (6, 'f'), (7, 'g'), (8, 'BAD!'), (9, 'i'), (10, 'j')
            """);
        db.Manifest($$"""
            - name: person
              from: { table: people, key: id }
              key: [id]
              batch_size: 3
              rules:
                - { column: name, regex: '^[a-z]+$', severity: fatal }
                {{rules}}
              columns: { id: { from: id, type: int }, name: name }
            """);
        var failed = await db.Workspace.Ferry("run", "ferry.yaml");
        Assert.True(failed.ExitCode == 1, failed.ToString());
        Assert.Equal(["2|6|failed"], Rows(db, "SELECT max(b.batch_no), max(b.last_line), r.status FROM ferry_batches b JOIN ferry_runs r USING (run_id)"));
        db.Execute("""
            UPDATE people SET name = 'h' WHERE id = 8;
            UPDATE people SET id = 1 WHERE id = 2
            """);
        return db;
    }

    [Fact]
    public async Task A_resumed_run_starts_after_the_key_of_its_last_committed_row()
    {
        using var db = await FailedRunAsync("");

        var resumed = await db.Workspace.Ferry("run", "ferry.yaml", "--resume");

        // The run succeeds without reading the rows before its checkpoint again, but the reconciliation
        // at its end reads the source from its first row, where key 1 now comes twice: it says so (exit 4).
        Assert.True(resumed.ExitCode == 4, resumed.ToString());
        Assert.Contains("run 1 (resumed): succeeded", resumed.Output, StringComparison.Ordinal);
        Assert.Contains("entity person could not be reconciled: sqlite table people:2: key (1) is the key of the row before it too", resumed.Output, StringComparison.Ordinal);
        Assert.Contains("run 1 resumed", resumed.Output, StringComparison.Ordinal);
        Assert.Contains("resuming after line 6 (batch 2)", resumed.Output, StringComparison.Ordinal);
        Assert.Equal(["1|a", "2|b", "3|c", "4|d", "5|e", "6|f", "7|g", "8|h", "9|i", "10|j"], Rows(db, "SELECT id, name FROM person ORDER BY id"));
        Assert.Equal(["1|succeeded|10|10"], Rows(db, "SELECT r.run_id, r.status, e.rows_read, e.inserted FROM ferry_runs r JOIN ferry_run_entities e USING (run_id)"));
        Assert.Equal(["1|1|3", "2|4|6", "3|7|9", "4|10|10"], Rows(db, "SELECT batch_no, first_line, last_line FROM ferry_batches ORDER BY batch_no"));
    }

    [Fact]
    public async Task A_resumed_run_with_a_unique_rule_reads_from_the_first_row_again()
    {
        using var db = await FailedRunAsync("- { column: name, unique: true }");

        var resumed = await db.Workspace.Ferry("run", "ferry.yaml", "--resume");

        // The unique rule must see the committed rows' names again, so the rows before the
        // checkpoint are read, and the repeated key among them is found.
        Assert.True(resumed.ExitCode == 1, resumed.ToString());
        Assert.Contains("sqlite table people:2: key (1) is the key of the row before it too", resumed.Error + resumed.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_connection_never_shows_the_password()
    {
        using var db = new LegacyDatabase(LegacyDatabase.MySql);
        const string password = "not-the-Password-42";
        Environment.SetEnvironmentVariable(db.Variable,
            new MySqlConnector.MySqlConnectionStringBuilder(db.ManifestConnection) { Password = password }.ConnectionString);
        db.Manifest("""
            - name: e
              from: { table: nothing, key: id }
              mode: insert
              columns: { id: id }
            """);

        var run = await db.Workspace.Ferry("run", "ferry.yaml");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("mysql table nothing: cannot read mysql table nothing: Access denied", run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(password, run.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(db.Workspace.PathOf("target.db"))); // the source failed before the target was touched
    }
}
