using System.Globalization;
using System.Text;

namespace Ferry.Bench;

/// <summary>
/// The dirt one district's legacy database holds, as counts (or, for impossible dates, the very
/// texts), so that the example's README and test can state exactly which rows are rejected.
/// </summary>
internal sealed record DistrictDirt(
    int DuplicateStudents = 0,
    string[]? ImpossibleBirthDates = null,
    int FutureBirthDates = 0,
    int ZeroBirthDates = 0,
    int UndecodableNames = 0,
    int OrphanEnrollments = 0,
    int EnrollmentsOfMissingSchools = 0,
    int StaffOfMissingSchools = 0,
    int OrphanAttendance = 0,
    int UnknownAttendanceCodes = 0);

/// <summary>One district of the consolidation example: its id, where it lives and its first student and enrollment ids.</summary>
internal sealed record DistrictSpec(string Id, bool MySql, long FirstStudentId, long FirstEnrollmentId, DistrictDirt Dirt);

/// <summary>What one table of a generated district holds: all its rows, and how many of them are dirt a rule rejects.</summary>
internal sealed record TableCount(string Table, int Rows, int Rejected);

/// <summary>
/// Writes the legacy databases of the district-consolidation example: per district, schools,
/// staff, students, enrollments and attendance with integer keys (every district numbering its
/// own rows, so the same id means different rows in different districts) and the dirt of
/// <see cref="DistrictDirt"/> spread among clean rows. North and south are SQLite files with
/// UTF-8 names and dates as text; river is a MariaDB database whose names are windows-1252 bytes
/// in VARBINARY columns and whose DATE columns hold zero dates (0000-00-00 for "no date", and for
/// two unknown birth dates). Deterministic: the same seed and size give the same rows.
/// </summary>
internal sealed class DistrictGenerator(int studentsPerDistrict, ulong seed)
{
    public const string SchoolYear = "2024-25";
    public const string PreviousSchoolYear = "2023-24";
    public const string ZeroDate = "0000-00-00";

    /// <summary>The example's three districts and their dirt (docs: examples/district-consolidation/README.md).</summary>
    public static readonly DistrictSpec[] Districts =
    [
        new("north", MySql: false, FirstStudentId: 1, FirstEnrollmentId: 1, new DistrictDirt(
            DuplicateStudents: 2, ImpossibleBirthDates: ["2016-02-30", "2014-13-07"], FutureBirthDates: 1,
            OrphanEnrollments: 3, OrphanAttendance: 2, UnknownAttendanceCodes: 1)),
        new("south", MySql: false, FirstStudentId: 1, FirstEnrollmentId: 1, new DistrictDirt(
            DuplicateStudents: 2, ImpossibleBirthDates: ["2015-02-29"], FutureBirthDates: 1, UndecodableNames: 2,
            OrphanEnrollments: 3, EnrollmentsOfMissingSchools: 1, OrphanAttendance: 2)),
        new("river", MySql: true, FirstStudentId: 10001, FirstEnrollmentId: 50001, new DistrictDirt(
            DuplicateStudents: 2, FutureBirthDates: 1, ZeroBirthDates: 2,
            OrphanEnrollments: 3, StaffOfMissingSchools: 1, OrphanAttendance: 2)),
    ];

    private static readonly string[] SchoolColumns = ["id", "name", "city", "opened_on"];
    private static readonly string[] StaffColumns = ["id", "school_id", "first_name", "last_name", "role", "hired_on"];
    private static readonly string[] StudentColumns = ["id", "school_id", "first_name", "last_name", "birth_date", "grade"];
    private static readonly string[] EnrollmentColumns = ["id", "student_id", "school_id", "school_year", "grade", "enrolled_on", "left_on"];
    private static readonly string[] AttendanceColumns = ["id", "enrollment_id", "day", "status"];
    private static readonly string[] AttendanceDays = ["2024-09-02", "2024-09-03", "2024-09-04"];

    private static readonly Encoding Windows1252 = CodePages.Windows1252;
    private static readonly Encoding Latin1 = Encoding.Latin1;

    private sealed record Student(long Id, long SchoolId, string FirstName, string LastName, string BirthDate, int Grade, bool Dirty, bool Undecodable);

    private sealed record Enrollment(long Id, long StudentId, long SchoolId, string Year, int Grade, bool Dirty);

    /// <summary>Writes one district into <paramref name="database"/> and returns its tables' counts.</summary>
    public List<TableCount> Write(DistrictSpec district, LegacyDatabaseWriter database)
    {
        var random = SplitMix64.For(seed, StableHash(district.Id), 0);
        var dirt = district.Dirt;
        var mySql = district.MySql;
        CreateTables(database, mySql);

        // Schools: clean; every other table refers to them.
        var schoolCount = Math.Max(3, studentsPerDistrict / 125);
        for (var i = 0; i < schoolCount; i++)
        {
            var place = LegacyNames.Places[(int)(((ulong)i + StableHash(district.Id)) % (ulong)LegacyNames.Places.Length)];
            database.Insert("schools", SchoolColumns, (long)(i + 1), $"{place} {LegacyNames.SchoolKinds[i % LegacyNames.SchoolKinds.Length]}",
                place, Date(1950 + random.Next(60), random.Next(1, 13), random.Next(1, 29)));
        }
        var missingSchool = schoolCount + 90L;

        // Staff: five per school; in river every seventh hire date is a zero date (unknown: NULL, loaded).
        var staff = new List<object?[]>();
        for (var i = 0; i < schoolCount * 5; i++)
        {
            var hired = mySql && i % 7 == 3 ? ZeroDate : Date(1990 + random.Next(34), random.Next(1, 13), random.Next(1, 29));
            staff.Add([(long)(i / 5 + 1), Name(random.Pick(LegacyNames.FirstNames), mySql), Name(random.Pick(LegacyNames.LastNames), mySql),
                i % 5 == 0 ? "principal" : random.Pick(LegacyNames.StaffRoles), hired]);
        }
        var staffDirt = Enumerable.Range(0, dirt.StaffOfMissingSchools)
            .Select(_ => new object?[] { missingSchool, Name("Pat", mySql), Name("Doe", mySql), "teacher", "2019-09-01" }).ToList();
        var staffRows = Spread(staff, staffDirt);
        for (var i = 0; i < staffRows.Count; i++)
            database.Insert("staff", StaffColumns, [(long)(i + 1), .. staffRows[i]]);

        // Students: clean ones, then the dirt spread among them.
        // No two clean students share a name and a birth date: only the planted duplicates do.
        var clean = new List<Student>();
        var people = new HashSet<(string, string, string)>();
        while (clean.Count < studentsPerDistrict)
        {
            var grade = random.Next(1, 13);
            var birthYear = 2024 - 6 - grade + (random.Chance(0.2) ? 1 : 0);
            var student = new Student(0, random.Next(schoolCount) + 1, random.Pick(LegacyNames.FirstNames), random.Pick(LegacyNames.LastNames),
                Date(birthYear, random.Next(1, 13), random.Next(1, 29)), grade, Dirty: false, Undecodable: false);
            if (people.Add((student.FirstName, student.LastName, student.BirthDate)))
                clean.Add(student);
        }
        var studentDirt = new List<Student>();
        for (var k = 0; k < dirt.DuplicateStudents; k++)
            studentDirt.Add(clean[k] with { Dirty = true });   // the same person, entered again later
        foreach (var impossible in dirt.ImpossibleBirthDates ?? [])
            studentDirt.Add(NewDirtyStudent(ref random, schoolCount, impossible));
        for (var k = 0; k < dirt.FutureBirthDates; k++)
            studentDirt.Add(NewDirtyStudent(ref random, schoolCount, Date(2031, 5, 1 + k)));
        for (var k = 0; k < dirt.ZeroBirthDates; k++)
            studentDirt.Add(NewDirtyStudent(ref random, schoolCount, ZeroDate));
        for (var k = 0; k < dirt.UndecodableNames; k++)
            studentDirt.Add(NewDirtyStudent(ref random, schoolCount, Date(2012, 3, 1 + k)) with { LastName = k % 2 == 0 ? "Müller" : "Núñez", Undecodable = true });
        var students = Spread(clean, studentDirt).Select((s, i) => s with { Id = district.FirstStudentId + i }).ToList();
        foreach (var s in students)
        {
            object? last = s.Undecodable ? Latin1.GetBytes(s.LastName) : Name(s.LastName, mySql);
            database.Insert("students", StudentColumns, s.Id, s.SchoolId, Name(s.FirstName, mySql), last, s.BirthDate, (long)s.Grade);
        }
        if (dirt.UndecodableNames > 0)
            // A legacy application wrote latin-1 bytes into a UTF-8 SQLite database: text, not a blob.
            database.Execute("UPDATE students SET last_name = CAST(last_name AS TEXT) WHERE typeof(last_name) = 'blob'");

        // Enrollments: this year's for every clean student, last year's for about half; then orphans.
        var enrollments = new List<Enrollment>();
        foreach (var s in students.Where(s => !s.Dirty))
        {
            if (s.Grade > 1 && random.Chance(0.5))
                enrollments.Add(new Enrollment(0, s.Id, s.SchoolId, PreviousSchoolYear, s.Grade - 1, Dirty: false));
            enrollments.Add(new Enrollment(0, s.Id, s.SchoolId, SchoolYear, s.Grade, Dirty: false));
        }
        var noStudent = district.FirstStudentId + students.Count + 500;
        var enrollmentDirt = Enumerable.Range(0, dirt.OrphanEnrollments)
            .Select(k => new Enrollment(0, noStudent + 7 * k, random.Next(schoolCount) + 1, SchoolYear, 5, Dirty: true))
            .Concat(Enumerable.Range(0, dirt.EnrollmentsOfMissingSchools)
                .Select(k => students.Where(s => !s.Dirty).ElementAt(2 * k + 1))
                .Select(s => new Enrollment(0, s.Id, missingSchool, SchoolYear, s.Grade, Dirty: true)))
            .ToList();
        enrollments = Spread(enrollments, enrollmentDirt).Select((e, i) => e with { Id = district.FirstEnrollmentId + i }).ToList();
        foreach (var e in enrollments)
        {
            var previous = e.Year == PreviousSchoolYear;
            var enrolled = previous ? "2023-09-04" : "2024-09-02";
            string? left = previous ? "2024-06-28" : mySql ? ZeroDate : null;
            database.Insert("enrollments", EnrollmentColumns, e.Id, e.StudentId, e.SchoolId, e.Year, (long)e.Grade, enrolled, left);
        }

        // Attendance: three days of this school year per clean enrollment; then orphans and unknown codes.
        var attendance = new List<object?[]>();
        foreach (var e in enrollments.Where(e => !e.Dirty && e.Year == SchoolYear))
            foreach (var day in AttendanceDays)
            {
                var roll = random.Next(100);
                attendance.Add([e.Id, day, roll < 88 ? "present" : roll < 95 ? "absent" : roll < 98 ? "late" : "excused"]);
            }
        var noEnrollment = district.FirstEnrollmentId + enrollments.Count + 900;
        var attendanceDirt = Enumerable.Range(0, dirt.OrphanAttendance)
            .Select(k => new object?[] { noEnrollment + 11 * k, AttendanceDays[0], "present" })
            .Concat(Enumerable.Range(0, dirt.UnknownAttendanceCodes)
                .Select(_ => new object?[] { enrollments.First(e => !e.Dirty).Id, "2024-09-05", "P" }))
            .ToList();
        var attendanceRows = Spread(attendance, attendanceDirt);
        for (var i = 0; i < attendanceRows.Count; i++)
            database.Insert("attendance", AttendanceColumns, [(long)(i + 1), .. attendanceRows[i]]);

        database.Commit();
        return
        [
            new("schools", schoolCount, 0),
            new("staff", staffRows.Count, staffDirt.Count),
            new("students", students.Count, studentDirt.Count),
            new("enrollments", enrollments.Count, enrollmentDirt.Count),
            new("attendance", attendanceRows.Count, attendanceDirt.Count),
        ];
    }

    private static Student NewDirtyStudent(ref SplitMix64 random, int schoolCount, string birthDate) =>
        new(0, random.Next(schoolCount) + 1, random.Pick(LegacyNames.FirstNames), random.Pick(LegacyNames.LastNames), birthDate, 4, Dirty: true, Undecodable: false);

    /// <summary>River's names are windows-1252 bytes (VARBINARY); the SQLite districts' are text.</summary>
    private static object Name(string name, bool mySql) => mySql ? Windows1252.GetBytes(name) : name;

    private static string Date(int year, int month, int day) =>
        string.Create(CultureInfo.InvariantCulture, $"{year:D4}-{month:D2}-{day:D2}");

    /// <summary>The clean rows with the dirty ones spread evenly among them (never first), in a stable order.</summary>
    private static List<T> Spread<T>(List<T> clean, List<T> dirty)
    {
        var total = clean.Count + dirty.Count;
        var result = new List<T>(total);
        var (c, d) = (0, 0);
        for (var i = 0; i < total; i++)
        {
            var dirtyTurn = d < dirty.Count && (c >= clean.Count || i >= (long)(d + 1) * total / (dirty.Count + 1));
            result.Add(dirtyTurn ? dirty[d++] : clean[c++]);
        }
        return result;
    }

    private static ulong StableHash(string text)
    {
        var hash = 14695981039346656037UL;   // FNV-1a: string.GetHashCode differs per process
        foreach (var ch in text)
            hash = (hash ^ ch) * 1099511628211UL;
        return hash;
    }

    private static void CreateTables(LegacyDatabaseWriter database, bool mySql)
    {
        if (mySql)
        {
            database.Execute("""
                CREATE TABLE schools (id INT PRIMARY KEY, name VARCHAR(100) CHARACTER SET latin1 NOT NULL, city VARCHAR(60) CHARACTER SET latin1, opened_on DATE);
                CREATE TABLE staff (id INT PRIMARY KEY, school_id INT, first_name VARBINARY(60), last_name VARBINARY(60), role VARCHAR(30), hired_on DATE);
                CREATE TABLE students (id INT PRIMARY KEY, school_id INT, first_name VARBINARY(60), last_name VARBINARY(60), birth_date DATE, grade INT,
                    KEY students_name (last_name, first_name));
                CREATE TABLE enrollments (id INT PRIMARY KEY, student_id INT, school_id INT, school_year CHAR(7), grade INT, enrolled_on DATE, left_on DATE);
                CREATE TABLE attendance (id INT PRIMARY KEY, enrollment_id INT, day DATE, status VARCHAR(10));
                """);
            return;
        }
        database.Execute("""
            CREATE TABLE schools (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, opened_on TEXT);
            CREATE TABLE staff (id INTEGER PRIMARY KEY, school_id INTEGER, first_name TEXT, last_name TEXT, role TEXT, hired_on TEXT);
            CREATE TABLE students (id INTEGER PRIMARY KEY, school_id INTEGER, first_name TEXT, last_name TEXT, birth_date TEXT, grade INTEGER);
            CREATE INDEX students_name ON students (last_name, first_name);
            CREATE TABLE enrollments (id INTEGER PRIMARY KEY, student_id INTEGER, school_id INTEGER, school_year TEXT, grade INTEGER, enrolled_on TEXT, left_on TEXT);
            CREATE TABLE attendance (id INTEGER PRIMARY KEY, enrollment_id INTEGER, day TEXT, status TEXT);
            """);
    }
}

/// <summary>windows-1252 needs the code-pages provider on .NET.</summary>
internal static class CodePages
{
    public static readonly Encoding Windows1252 = Load();

    private static Encoding Load()
    {
        Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);
        return Encoding.GetEncoding(1252);
    }
}
