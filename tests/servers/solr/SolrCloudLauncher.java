/*
 * A real one-node SolrCloud (Solr 9 + an embedded ZooKeeper) on 127.0.0.1 for contentcloud's
 * integration tests: the MiniSolrCloudCluster that Solr's own cloud tests use.
 *
 * Run as a single-file program, with the same jars as SolrLauncher.java (pom.xml beside this file):
 *   java -Xmx512m -cp 'lib/*' SolrCloudLauncher.java <baseDir> <configsetDir> <configsetName>
 *
 * - the cluster (ZooKeeper data, the node's home, cores) lives under <baseDir>, which must be empty
 *   or absent; logs go to <baseDir>/logs/solr.log at WARN, errors also to stderr;
 * - uploads the configset at <configsetDir> (the folder holding conf/, or conf/ itself) to ZooKeeper
 *   as <configsetName>, so that Collections API CREATE with collection.configName=<configsetName>
 *   works;
 * - prints exactly one line "READY http://127.0.0.1:<port>/solr zk=127.0.0.1:<zkPort>/solr" on stdout
 *   once the node is live (the port is a free one: a restart gets a new one);
 * - with -Dlauncher.stdinWatchdog=true, also stops when its stdin closes (as SolrLauncher);
 * - stops cleanly (node, then ZooKeeper) on SIGTERM or SIGINT.
 *
 * Collections and aliases are created over HTTP by the caller (Collections API).
 */

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

public class SolrCloudLauncher {

  private static final String LOG4J2_XML =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          + "<!-- written by SolrCloudLauncher.java: WARN to logs/solr.log, ERROR also to stderr -->\n"
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
          // ZooKeeper's client warns on every reconnect and at shutdown: its own file only
          + "    <Logger name=\"org.apache.zookeeper\" level=\"ERROR\" additivity=\"false\">\n"
          + "      <AppenderRef ref=\"FILE\"/>\n"
          + "    </Logger>\n"
          // ZkTestServer says at ERROR that it adds 'stat' to the four-letter-word list: not an error
          + "    <Logger name=\"org.apache.solr.cloud.ZkTestServer\" level=\"WARN\" additivity=\"false\">\n"
          + "      <AppenderRef ref=\"FILE\"/>\n"
          + "    </Logger>\n"
          + "    <Root level=\"WARN\">\n"
          + "      <AppenderRef ref=\"FILE\"/>\n"
          + "      <AppenderRef ref=\"STDERR\"/>\n"
          + "    </Root>\n"
          + "  </Loggers>\n"
          + "</Configuration>\n";

  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println(
          "usage: java -cp 'lib/*' SolrCloudLauncher.java <baseDir> <configsetDir> <configsetName>");
      System.exit(2);
    }
    Path base = Path.of(args[0]).toAbsolutePath().normalize();
    Path configset = Path.of(args[1]).toAbsolutePath().normalize();
    if (Files.isDirectory(configset.resolve("conf"))) {
      configset = configset.resolve("conf");
    }
    if (!Files.isRegularFile(configset.resolve("solrconfig.xml"))) {
      System.err.println("SolrCloudLauncher: no solrconfig.xml in " + configset);
      System.exit(2);
    }
    String configName = args[2];

    Path logs = base.resolve("logs");
    Files.createDirectories(logs);
    Path log4j = base.resolve("log4j2.xml");
    if (!Files.exists(log4j)) {
      Files.writeString(log4j, LOG4J2_XML, StandardCharsets.UTF_8);
    }
    // Before any Solr, Jetty or ZooKeeper class is touched: their static loggers read these.
    System.setProperty("solr.log.dir", logs.toString());
    System.setProperty("log4j2.configurationFile", log4j.toUri().toString());
    System.setProperty("solr.install.dir", base.toString());
    System.setProperty("solr.disableJmxReporter", "true");
    // The node's own host name in the cluster state: the address clients are sent to.
    System.setProperty("host", "127.0.0.1");
    // ZooKeeper's admin server (an extra Jetty on port 8080) is not needed.
    System.setProperty("zookeeper.admin.enableServer", "false");
    java.util.logging.Logger.getLogger("").setLevel(java.util.logging.Level.SEVERE);

    SolrLauncherSupport.watchStdin();
    Cluster.run(base, configset, configName);
  }

  /** The stdin watchdog, as in SolrLauncher (single-file programs cannot share a class). */
  static final class SolrLauncherSupport {
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
  }

  /** Ends the JVM at once (no shutdown hooks), the reason last so that an output tail shows it. */
  static void fail(Throwable cause) {
    cause.printStackTrace();
    System.err.println("SolrCloudLauncher: SolrCloud did not start: " + cause);
    System.err.flush();
    Runtime.getRuntime().halt(1);
  }

  /** Kept in a nested class so that the Solr classes load only after the properties are set. */
  static final class Cluster {
    static void run(Path base, Path configset, String configName) throws Exception {
      org.apache.solr.embedded.JettyConfig jetty =
          org.apache.solr.embedded.JettyConfig.builder()
              .setContext("/solr")
              .stopAtShutdown(false) // our own hook below shuts the cluster down
              .build();
      org.apache.solr.cloud.MiniSolrCloudCluster cluster = null;
      try {
        cluster =
            new org.apache.solr.cloud.MiniSolrCloudCluster(
                1,
                base,
                org.apache.solr.cloud.MiniSolrCloudCluster.DEFAULT_CLOUD_SOLR_XML,
                jetty);
        cluster.uploadConfigSet(configset, configName);
      } catch (Throwable e) {
        fail(e);
      }
      org.apache.solr.cloud.MiniSolrCloudCluster running = cluster;

      Object done = new Object();
      Runtime.getRuntime()
          .addShutdownHook(
              new Thread(
                  () -> {
                    try {
                      running.shutdown();
                    } catch (Exception e) {
                      e.printStackTrace();
                    }
                    synchronized (done) {
                      done.notifyAll();
                    }
                  },
                  "solrcloud-launcher-stop"));

      String url = running.getJettySolrRunner(0).getBaseUrl().toString();
      String zk = running.getZkServer().getZkAddress();
      System.out.println("READY " + url + " zk=" + zk);
      System.out.flush();
      synchronized (done) {
        done.wait();
      }
    }
  }
}
