/*
 * A MongoDB-wire server on 127.0.0.1 for contentcloud's integration tests: mongo-java-server with
 * its in-memory backend (nothing on disk; every start is empty).
 *
 * Run as a single-file program, jars from pom.xml beside this file:
 *   java -Xmx256m -cp 'lib/*' MongoLauncher.java [port]
 *
 * - port 0 (the default) takes a free port; the real one is in the READY line;
 * - prints exactly one line "READY mongodb://127.0.0.1:<port>" on stdout once it accepts clients;
 * - with -Dlauncher.stdinWatchdog=true, also stops when its stdin closes (see watchStdin);
 * - stops on SIGTERM or SIGINT.
 *
 * Wire version: mongo-java-server 1.47.0 reports MongoDB 5.0 with wire version 8 (sic), and
 * pymongo >= 4.18 refuses servers below wire 9 (MongoDB 4.4). The backend therefore announces
 * MongoDB 6.0 / wire 17 through the public MongoVersion interface; the commands it implements
 * are unchanged. No sessions or multi-document transactions: the MDStore must not need them.
 */

import java.util.List;

public class MongoLauncher {

  /** What the server announces in hello/buildInfo. */
  static final class AnnouncedVersion implements de.bwaldvogel.mongo.MongoVersion {
    @Override
    public List<Integer> getVersionArray() {
      return List.of(6, 0, 0);
    }

    @Override
    public int getWireVersion() {
      return 17;
    }
  }

  /**
   * With -Dlauncher.stdinWatchdog=true the server exits (cleanly, through the shutdown hook) when
   * its standard input reaches end of file: the Python launcher holds the other end of that pipe,
   * so the server cannot outlive a test run that was killed (SIGKILL, CI time-out).
   */
  static void watchStdin() {
    if (!Boolean.getBoolean("launcher.stdinWatchdog")) {
      return;
    }
    Thread watchdog =
        new Thread(
            () -> {
              try {
                while (System.in.read() != -1) {
                  // the launcher never writes; anything read is ignored
                }
              } catch (java.io.IOException e) {
                // a broken pipe means the same as end of file
              }
              System.exit(0);
            },
            "stdin-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
  }

  public static void main(String[] args) throws Exception {
    if (args.length > 1) {
      System.err.println("usage: java -cp 'lib/*' MongoLauncher.java [port]");
      System.exit(2);
    }
    int port = args.length == 1 ? Integer.parseInt(args[0]) : 0;
    // Before the first logger is created: warnings and errors only, on stderr.
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");

    de.bwaldvogel.mongo.backend.memory.MemoryBackend backend =
        new de.bwaldvogel.mongo.backend.memory.MemoryBackend();
    backend.version(new AnnouncedVersion());
    de.bwaldvogel.mongo.MongoServer server = new de.bwaldvogel.mongo.MongoServer(backend);

    Object done = new Object();
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  server.shutdownNow();
                  synchronized (done) {
                    done.notifyAll();
                  }
                },
                "mongo-launcher-stop"));

    watchStdin();
    try {
      server.bind("127.0.0.1", port);
    } catch (Exception e) { // netty rethrows BindException unchecked
      // Ends the JVM at once (netty's threads would keep it alive), the reason last so that an
      // output tail shows it.
      e.printStackTrace();
      System.err.println("MongoLauncher: server did not start: " + e);
      System.err.flush();
      Runtime.getRuntime().halt(1);
    }
    System.out.println("READY mongodb://127.0.0.1:" + server.getLocalAddress().getPort());
    System.out.flush();
    synchronized (done) {
      done.wait();
    }
  }
}
