using Ferry.Tests.Support;
using Microsoft.Data.Sqlite;

namespace Ferry.Tests.KeyMap;

/// <summary>
/// A district's legacy database (SQLite) with integer keys: schools, and students that name their
/// school by its legacy id. Some rows are made to fail: school 3 has no name (the contract rejects
/// it, so its students are orphans), student 7 names school 17, which does not exist, and student 9
/// names no school (NULL, allowed).
/// </summary>
internal static class District
{
    public const int RejectedSchool = 3;
    public const int MissingSchool = 17;
    public const int OrphanStudent = 7;
    public const int StudentWithoutSchool = 9;

    public static int SchoolOf(int student, int schools) =>
        student == OrphanStudent ? MissingSchool : student % schools + 1;

    /// <summary>Students whose school is missing or rejected: the orphans.</summary>
    public static int Orphans(int schools, int students) =>
        Enumerable.Range(1, students).Count(s => s != StudentWithoutSchool && (SchoolOf(s, schools) == RejectedSchool || SchoolOf(s, schools) == MissingSchool));

    public static void WriteLegacy(Workspace ws, int schools, int students, string file = "legacy.db")
    {
        using var connection = new SqliteConnection($"Data Source={ws.PathOf(file)};Pooling=False");
        connection.Open();
        using var transaction = connection.BeginTransaction();
        using (var create = connection.CreateCommand())
        {
            create.CommandText = """
                CREATE TABLE schools (id INTEGER PRIMARY KEY, name TEXT);
                CREATE TABLE students (id INTEGER PRIMARY KEY, school_id INTEGER, name TEXT);
                """;
            create.ExecuteNonQuery();
        }
        using (var insert = connection.CreateCommand())
        {
            insert.CommandText = "INSERT INTO schools VALUES ($id, $name)";
            var id = insert.Parameters.Add("$id", SqliteType.Integer);
            var name = insert.Parameters.Add("$name", SqliteType.Text);
            for (var i = 1; i <= schools; i++)
            {
                id.Value = i;
                name.Value = i == RejectedSchool ? "" : $"School {i}";
                insert.ExecuteNonQuery();
            }
        }
        using (var insert = connection.CreateCommand())
        {
            insert.CommandText = "INSERT INTO students VALUES ($id, $school, $name)";
            var id = insert.Parameters.Add("$id", SqliteType.Integer);
            var school = insert.Parameters.Add("$school", SqliteType.Integer);
            var name = insert.Parameters.Add("$name", SqliteType.Text);
            for (var i = 1; i <= students; i++)
            {
                id.Value = i;
                school.Value = i == StudentWithoutSchool ? DBNull.Value : SchoolOf(i, schools);
                name.Value = $"Student {i}";
                insert.ExecuteNonQuery();
            }
        }
        transaction.Commit();
    }

    /// <param name="target">The manifest's target mapping, e.g. <c>{ type: sqlite, connection: "Data Source=target.db" }</c>.</param>
    /// <param name="suffix">Appended to the entity names (not the tables'): the key map of a PostgreSQL database is
    /// shared by every manifest loading it, so tests that run side by side keep to entities of their own.</param>
    public static string Manifest(string target, int batchSize = 100, string suffix = "") => $$"""
        name: district
        source: { type: sqlite, connection: "Data Source=legacy.db" }
        target: {{target}}
        entities:
          - name: school{{suffix}}
            table: school
            from: { table: schools, key: [id] }
            legacy_key: [id]
            key: [id]
            batch_size: {{batchSize}}
            rules:
              - { column: name, required: true }
            columns:
              id: { uuid: legacy }
              legacy_id: { from: id, type: int }
              name: name
          - name: student{{suffix}}
            table: student
            from: { table: students, key: [id] }
            legacy_key: [id]
            key: [id]
            batch_size: {{batchSize}}
            columns:
              id: { uuid: legacy }
              legacy_id: { from: id, type: int }
              school_id: { from: school_id, lookup: school{{suffix}} }
              name: name
        """;

    public static string SqliteTarget => """{ type: sqlite, connection: "Data Source=target.db" }""";

    public static string PostgresTarget(string schema) => $$"""{ type: postgres, connection: "${FERRY_TEST_PG}", schema: {{schema}} }""";
}
