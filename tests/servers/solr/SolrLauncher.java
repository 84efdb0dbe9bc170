/*
 * A real Solr 9 (standalone, not SolrCloud) on 127.0.0.1 for contentcloud's integration tests.
 *
 * Run as a single-file program, jars from pom.xml beside this file:
 *   java -Xmx512m -cp 'lib/*' SolrLauncher.java <solrHome> <port>
 *
 * - writes <solrHome>/solr.xml and <solrHome>/log4j2.xml when missing; logs go to
 *   <solrHome>/logs/solr.log at WARN, errors also to stderr;
 * - port 0 takes a free port; the real one is in the READY line;
 * - prints exactly one line "READY http://127.0.0.1:<port>/solr" on stdout once Solr answers;
 * - with -Dlauncher.stdinWatchdog=true, also stops when its stdin closes (see watchStdin);
 * - stops cleanly (cores closed, update logs flushed) on SIGTERM or SIGINT.
 *
 * Cores are created over HTTP by the caller (CoreAdmin CREATE with configSet=<name>, the
 * configsets living in <solrHome>/configsets/<name>/conf); SWAP, RELOAD and UNLOAD work as in
 * any standalone Solr. Nothing here knows the project's schema.
 */

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

public class SolrLauncher {

  private static final String SOLR_XML =
      "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n"
          + "<!-- written by SolrLauncher.java: standalone Solr for tests -->\n"
          + "<solr>\n"
          + "  <str name=\"configSetBaseDir\">${configSetBaseDir:configsets}</str>\n"
          + "</solr>\n";

  private static final String LOG4J2_XML =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          + "<!-- written by SolrLauncher.java: WARN to logs/solr.log, ERROR also to stderr -->\n"
          + "<Configuration status=\"WARN\">\n"
          + "  <Appenders>\n"
          + "    <Console name=\"STDERR\" target=\"SYSTEM_ERR\">\n"
          + "      <PatternLayout pattern=\"%d{HH:mm:ss.SSS} %-5p (%t) [%c{1.}] %m%n\"/>\n"
          + "      <ThresholdFilter level=\"ERROR\"/>\n"
          + "    </Console>\n"
          + "    <File name=\"FILE\" fileName=\"${sys:solr.log.dir}/solr.log\">\n"
          + "      <PatternLayout pattern=\"%d{ISO8601} %-5p (%t) [%c{1.}] %m%n\"/>\n"
          + "    </File>\n"
          + "  </Appenders>\n"
          + "  <Loggers>\n"
          + "    <Root level=\"WARN\">\n"
          + "      <AppenderRef ref=\"FILE\"/>\n"
          + "      <AppenderRef ref=\"STDERR\"/>\n"
          + "    </Root>\n"
          + "  </Loggers>\n"
          + "</Configuration>\n";

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: java -cp 'lib/*' SolrLauncher.java <solrHome> <port>");
      System.exit(2);
    }
    Path home = Path.of(args[0]).toAbsolutePath().normalize();
    int port = Integer.parseInt(args[1]);

    Files.createDirectories(home.resolve("logs"));
    writeIfMissing(home.resolve("solr.xml"), SOLR_XML);
    writeIfMissing(home.resolve("log4j2.xml"), LOG4J2_XML);

    // Before any Solr or Jetty class is touched: their static loggers read these.
    System.setProperty("solr.log.dir", home.resolve("logs").toString());
    System.setProperty("log4j2.configurationFile", home.resolve("log4j2.xml").toUri().toString());
    System.setProperty("solr.install.dir", home.toString());
    System.setProperty("solr.solr.home", home.toString());
    System.setProperty("solr.disableJmxReporter", "true");
    // Jersey (Solr's v2 API) logs through java.util.logging: keep only its errors.
    java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.SEVERE);

    watchStdin();
    Server.run(home, port);
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

  private static void writeIfMissing(Path file, String text) throws Exception {
    if (!Files.exists(file)) {
      Files.writeString(file, text, StandardCharsets.UTF_8);
    }
  }

  /** Ends the JVM at once (no shutdown hooks), the reason last so that an output tail shows it. */
  static void fail(Throwable cause) {
    cause.printStackTrace();
    System.err.println("SolrLauncher: Solr did not start: " + cause);
    System.err.flush();
    Runtime.getRuntime().halt(1);
  }

  /** Kept in a nested class so that the Solr classes load only after the properties are set. */
  static final class Server {
    static void run(Path home, int port) throws Exception {
      org.apache.solr.embedded.JettyConfig config =
          org.apache.solr.embedded.JettyConfig.builder()
              .setContext("/solr")
              .setPort(port)
              .stopAtShutdown(false) // our own hook below stops the runner (and its cores)
              .withPortRetryTime(0) // a taken port is an error at once, not after retries
              .build();
      org.apache.solr.embedded.JettySolrRunner runner =
          new org.apache.solr.embedded.JettySolrRunner(home.toString(), config);

      Object done = new Object();
      Runtime.getRuntime()
          .addShutdownHook(
              new Thread(
                  () -> {
                    try {
                      runner.stop();
                    } catch (Exception e) {
                      e.printStackTrace();
                    }
                    synchronized (done) {
                      done.notifyAll();
                    }
                  },
                  "solr-launcher-stop"));

      try {
        runner.start();
      } catch (Exception e) {
        fail(e);
      }
      // The runner binds 127.0.0.1 (see JettySolrRunner#init); getLocalPort is the real one.
      System.out.println("READY http://127.0.0.1:" + runner.getLocalPort() + "/solr");
      System.out.flush();
      synchronized (done) {
        done.wait();
      }
    }
  }
}
