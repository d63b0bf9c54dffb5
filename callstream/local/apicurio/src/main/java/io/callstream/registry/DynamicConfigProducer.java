package io.callstream.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.List;
import javax.enterprise.inject.Produces;
import javax.inject.Singleton;

/**
 * Apicurio's config-index extension registers this bean at build time, but its deployment
 * module is not published on Maven Central; the in-memory registry callstream runs has no
 * dynamic properties, so an empty list stands in for it.
 */
public class DynamicConfigProducer {
    @Produces
    @Singleton
    DynamicConfigPropertyList properties() {
        return new DynamicConfigPropertyList(List.of());
    }
}
