using System.Globalization;
using Ferry.Manifest;
using Ferry.Targets;

namespace Ferry.Pipeline;

/// <summary>
/// One pipeline process per manifest at a time: ingest, a pipeline run, publish and a version's rollback
/// hold an exclusive lock on <c>.ferry-pipeline.lock</c> in the stage folder, so that two processes never
/// register the same file twice, validate one version at once, or publish over each other. The lock is
/// the operating system's (on Linux an advisory <c>flock</c>), so it is released when its process ends,
/// however it ends: a crashed process leaves no lock behind.
/// </summary>
internal sealed class PipelineLock : IDisposable
{
    private readonly FileStream stream;
    private readonly string holderPath;

    private PipelineLock(FileStream stream, string holderPath)
    {
        this.stream = stream;
        this.holderPath = holderPath;
    }

    public static string PathOf(MigrationManifest manifest) =>
        Path.Combine(Path.GetFullPath(Path.Combine(manifest.Directory, manifest.StageFolder ?? "stage")), ".ferry-pipeline.lock");

    /// <summary>Takes the lock at once, or refuses naming the process that holds it.</summary>
    public static PipelineLock Acquire(MigrationManifest manifest, string what)
    {
        var path = PathOf(manifest);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new TargetException($"another ferry process is working on the pipeline of {Path.GetFileName(manifest.FilePath)} ({Holder(path)}); " +
                $"{what} was not started: wait for it to finish (the lock, {path}, goes with its process)");
        }
        var lockOf = new PipelineLock(stream, path + ".holder");
        try
        {
            // Who holds it, for the message of a process refused: the lock file itself cannot be read
            // while it is locked, so the words go beside it (the next holder writes its own).
            File.WriteAllText(lockOf.holderPath,
                $"process {Environment.ProcessId} since {DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}Z, {what}");
        }
        catch
        {
            lockOf.Dispose();
            throw;
        }
        return lockOf;
    }

    private static string Holder(string path)
    {
        try
        {
            var holder = File.ReadAllText(path + ".holder").Trim();
            return holder.Length > 0 ? holder : "holder unknown";
        }
        catch (IOException)
        {
            return "holder unknown";
        }
    }

    public void Dispose()
    {
        File.Delete(holderPath);
        stream.Dispose();
    }
}
