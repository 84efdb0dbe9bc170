/*
 * Apache Jena Fuseki on 127.0.0.1 for contentcloud's integration tests: one in-memory,
 * transactional dataset "/ds" with SPARQL 1.1 Query, Update and the Graph Store Protocol
 * (/ds/query, /ds/update, /ds/data), which is what the production RDF backend needs.
 *
 * Run as a single-file program, jars from pom.xml beside this file:
 *   java -Xmx512m -cp 'lib/*' FusekiLauncher.java [port]
 *
 * - port 0 (the default) takes a free port; the real one is in the READY line;
 * - prints exactly one line "READY http://127.0.0.1:<port>/ds" on stdout once it accepts clients;
 * - with -Dlauncher.stdinWatchdog=true, also stops when its stdin closes;
 * - stops on SIGTERM or SIGINT. Nothing is kept on disk: every start is empty.
 */

import org.apache.jena.fuseki.main.FusekiServer;
import org.apache.jena.sparql.core.DatasetGraph;
import org.apache.jena.sparql.core.DatasetGraphFactory;

public class FusekiLauncher {

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
      System.err.println("usage: java -cp 'lib/*' FusekiLauncher.java [port]");
      System.exit(2);
    }
    int port = args.length == 1 ? Integer.parseInt(args[0]) : 0;
    DatasetGraph dataset = DatasetGraphFactory.createTxnMem();
    FusekiServer server =
        FusekiServer.create().port(port).loopback(true).add("/ds", dataset, true).build();
    Runtime.getRuntime().addShutdownHook(new Thread(server::stop, "fuseki-launcher-stop"));
    watchStdin();
    server.start();
    System.out.println("READY http://127.0.0.1:" + server.getHttpPort() + "/ds");
    System.out.flush();
    server.join();
  }
}
