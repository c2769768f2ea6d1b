namespace Ferry.Tests.Support;

public static class RepoPaths
{
    /// <summary>The repository root: the folder above the test binaries that holds Ferry.slnx.</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Ferry.slnx")))
                return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root (Ferry.slnx) above " + AppContext.BaseDirectory);
    }
}
